"""Avro contracts and codec.

`contracts` (checked-in `avsc/*.avsc`, `envelope_schema`), `from_describe` (payload schemas
from Salesforce describe), `compatibility` (BACKWARD check with per-field reasons), `codec`
(Confluent and single-object framing), `registry` (Schema Registry client), `store` (local
schemas by fingerprint), `canonical` (canonical form and fingerprints), `errors`.
"""
