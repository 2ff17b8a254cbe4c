"""vpnrunbook: runbooks for custom IPsec/IKE connection policies on Azure VPN Gateway.

The package always talks to Azure through azure-mgmt-network; the default target is the embedded
ARM emulator (``vpnrunbook.emulator``), the production target is Azure with DefaultAzureCredential.
"""

__version__ = "0.1.0"
NETWORK_API_VERSION = "2026-03-01"
RESOURCES_API_VERSION = "2025-04-01"
