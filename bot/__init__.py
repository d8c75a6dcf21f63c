"""Trademate: the runtime that talks to the world (settings, store, drafting, adapters, web app)."""
