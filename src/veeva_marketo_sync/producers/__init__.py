"""Change capture: Veeva changes and Marketo lead edits onto Kafka, with checkpoints."""
