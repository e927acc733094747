"""The kiosk's screens: each one ``.py`` (view class) + one ``.kv`` (layout and bindings only),
loaded by the app when first shown. State comes from the controllers."""
