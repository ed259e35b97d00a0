"""The emulator's web UI: draw, validate, deploy, watch and open consoles in the browser.

    python -m emulator ui [TOPOLOGY] [--port 8050] [--host 127.0.0.1]

It uses only the emulator's public API (emulator.lab, emulator.core.schema, emulator.core.loader,
emulator.scenario); see server.py for the access token that guards every request.
"""
