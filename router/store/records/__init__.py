"""Message records: one row per message, derived from the journal off the ack path.

The journal holds what arrived (one row per read batch); the records follower turns it
into per-message rows in monthly partitions, hash-chained as written, that the lawful
export reads.  Requirements §4.
"""
