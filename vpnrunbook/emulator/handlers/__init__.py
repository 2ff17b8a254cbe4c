"""One module per resource type; ``common`` holds the create/get/list/delete flow they share."""
