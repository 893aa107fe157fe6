package inventoryv1

// Metadata keys of InventoryService answers, part of its contract beside the
// messages (hand-written; the rest of the package is generated).
const (
	// MetadataStale, in the header metadata, is "true" on a possibly stale
	// answer: the node answered from its cache because the database could
	// not, while the change feed could not vouch for the entry
	// (stale-if-error).
	MetadataStale = "x-gintoki-stale"
	// MetadataAge, beside MetadataStale, is how many seconds the answer has
	// gone unconfirmed (HTTP's Age).
	MetadataAge = "x-gintoki-age"
	// MetadataReadSource, in the trailing metadata of a call that set
	// read_after_gtid, says where the answer came from: cache, waited
	// (the cache, once the change feed had applied the GTID) or database.
	MetadataReadSource = "x-gintoki-read-source"
)
