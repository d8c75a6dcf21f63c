"""Buyer-side adapters implementing `bot.ports.BuyerChannel`."""
