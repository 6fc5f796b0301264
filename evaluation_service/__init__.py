"""haochaping: the county's 好差评 service."""

import os

# Tables look up their engine through PICCOLO_CONF when first imported.
os.environ.setdefault("PICCOLO_CONF", "evaluation_service.root.piccolo_conf")
