"""Exchange with other SNN frameworks: NIR export (``nir_export``) and import (``nir_import``),
with the mapping of the core's integers onto NIR's values in one place (``nir_mapping``)."""
