// The JavaScript Azure SDK (@azure/arm-network) against the served emulator: run by tests/emulator/test_js_sdk.py
// from a folder holding this script and the node_modules of package-lock.json. Inputs from the environment:
// EMULATOR_URL, EMULATOR_TOKEN, SUBSCRIPTION_ID, RESOURCE_GROUP; the CA via NODE_EXTRA_CA_CERTS. Prints one JSON
// object the test asserts on.
import { NetworkManagementClient } from "@azure/arm-network";

const { EMULATOR_URL, EMULATOR_TOKEN, SUBSCRIPTION_ID, RESOURCE_GROUP } = process.env;

// A TokenCredential (@azure/core-auth's interface) that hands out the emulator's bearer token.
const credential = {
  async getToken() {
    return { token: EMULATOR_TOKEN, expiresOnTimestamp: Date.now() + 3600 * 1000 };
  },
};

const client = new NetworkManagementClient(credential, SUBSCRIPTION_ID, {
  endpoint: EMULATOR_URL,
  credentialScopes: ["https://management.azure.com/.default"],
  updateIntervalInMs: 10,
});

const created = await client.virtualNetworks.beginCreateOrUpdateAndWait(RESOURCE_GROUP, "JsVNet", {
  location: "eastus",
  addressSpace: { addressPrefixes: ["10.90.0.0/16"] },
  subnets: [{ name: "GatewaySubnet", addressPrefix: "10.90.255.0/27" }],
}, { updateIntervalInMs: 10 });
const read = await client.virtualNetworks.get(RESOURCE_GROUP, "JsVNet");
const listed = [];
for await (const vnet of client.virtualNetworks.list(RESOURCE_GROUP)) listed.push(vnet.name);
const everywhere = [];
for await (const vnet of client.virtualNetworks.listAll()) everywhere.push(vnet.name);
const connection = await client.virtualNetworkGatewayConnections.get("TestRG1", "VNet1toSite6");
let missing = null;
try {
  await client.virtualNetworks.get(RESOURCE_GROUP, "NoSuchVNet");
} catch (err) {
  missing = { statusCode: err.statusCode, code: err.code };
}

console.log(JSON.stringify({
  created: { name: created.name, provisioningState: created.provisioningState, id: created.id },
  read: { name: read.name, etag: read.etag, subnets: (read.subnets ?? []).map((s) => s.name) },
  listed,
  everywhere,
  connection: { name: connection.name, ipsecPolicies: connection.ipsecPolicies ?? [] },
  missing,
}));
