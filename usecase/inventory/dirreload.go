package inventory

import (
	"context"
	"time"
)

// refreshDirectory reads the warehouse table before the cache is used again
// after clients' reads went to the database (bypassLoad): those reads
// showed the warehouses as the database had them, and the directory may
// stand before that (the feed was behind or away), so answering from it
// could show a warehouse older than a reader already saw. Without such a
// read there is nothing to catch up with, and no query. A read that fails
// leaves it to the background (reloadDirectory); the cache is used all the
// same, since the database is then failing reads too.
func (s *core) refreshDirectory() {
	if s.dir.Implicit() || !s.dir.Loaded() {
		return // nothing to read, or the first load is still to come
	}
	if err := s.readDirectoryOnce(); err != nil {
		s.log.Warn("warehouse directory not read again as the cache is used again; retrying in the background", "err", err)
		s.reloadDirectory()
	}
}

// reloadDirectory reads the warehouse table again, in the background (one
// read at a time): a warehouse event could not be placed against the
// directory's last read, or a read that had to happen failed. A request
// made while a read runs gets a read of its own after it (the running one
// may have started before the event committed); a failed read is tried
// again a few times, then left to the next request.
func (s *core) reloadDirectory() {
	if !s.reloading.CompareAndSwap(false, true) {
		s.dir.reload.Store(true) // the running read picks it up
		return
	}
	go func() {
		for {
			for again := true; again; again = s.dir.TakeReload() {
				s.readDirectory()
			}
			s.reloading.Store(false)
			// A request made between the last TakeReload and the Store saw
			// a read running: take it over.
			if !s.dir.reload.Load() || !s.reloading.CompareAndSwap(false, true) {
				return
			}
		}
	}()
}

func (s *core) readDirectory() {
	const tries = 5
	for try := 1; ; try++ {
		err := s.readDirectoryOnce()
		if err == nil {
			return
		}
		if try == tries {
			s.log.Warn("warehouse directory not read again; the next warehouse event that needs it asks again", "err", err)
			return
		}
		time.Sleep(time.Duration(try) * 200 * time.Millisecond)
	}
}

// readDirectoryOnce reads the warehouse table into the directory.
func (s *core) readDirectoryOnce() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.DBQueryTimeout+s.cfg.DBQueueTimeout)
	defer cancel()
	ws, sp, err := s.warehouses(ctx)
	if err != nil {
		return err
	}
	s.dir.Load(ws, sp)
	return nil
}
