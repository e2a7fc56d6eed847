"""The audit of reads of patient data: who read which patient's messages, when, from where (hub.audit.reads)."""
