"""Writers to Marketo and Veeva, and the dead-letter queue."""
