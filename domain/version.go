package domain

// Supersedes reports whether a change of a row at version v (deleted: the
// change removed the row) replaces what is known of that row (known, at
// knownVersion).
//
// Versions grow with every write of a row and never repeat for a primary
// key, even across a delete and a re-insert (see DESIGN). A DELETE changes no
// column, so the delete event's before image carries the version the row
// already had: the delete and the last write share a version. Hence the tie
// rule: at equal versions a delete wins over a live row, and a live row never
// wins over a delete (a re-insert always comes with a newer version).
func Supersedes(knownVersion uint64, knownDeleted bool, v uint64, deleted bool) bool {
	if v != knownVersion {
		return v > knownVersion
	}
	return deleted && !knownDeleted
}
