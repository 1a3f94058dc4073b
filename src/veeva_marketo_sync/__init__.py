"""veeva-marketo-sync: an event-driven Veeva CRM <-> Marketo sync on Apache Kafka."""

__version__ = "0.1.0"
