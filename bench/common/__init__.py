"""What every benchmark shares: the stack, scratch databases and topics, CPU, memory, percentiles, Kafka's baseline."""
