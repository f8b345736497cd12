"""Domain logic. Services own their transactions; routes only call them."""
