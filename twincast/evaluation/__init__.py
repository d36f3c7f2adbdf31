"""``twincast evaluate``: online one-step accuracy next to persistence and River."""
