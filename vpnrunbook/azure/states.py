"""ARM provisioning states the package reasons about (one place: operations, evidence and reconcile read them)."""

FAILED_STATES = ("Failed", "Canceled")
SETTLING = ("Updating", "Creating", "Provisioning", "Accepted", "Running")
