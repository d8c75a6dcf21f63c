"""Rep-side adapters implementing `bot.ports.ChatSurface`."""
