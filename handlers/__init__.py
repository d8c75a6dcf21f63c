"""What Trademate does, one module per kind of event; platform-neutral by rule."""
