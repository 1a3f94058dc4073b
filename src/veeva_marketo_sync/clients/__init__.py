"""Outbound I/O only: the Veeva, Marketo and Kafka clients."""
