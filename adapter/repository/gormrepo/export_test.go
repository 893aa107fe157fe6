package gormrepo

import (
	"context"

	"gorm.io/gorm"

	"github.com/gintoki/gintoki/domain"
	"github.com/gintoki/gintoki/infrastructure/database"
)

// CheckMappingAs is CheckMapping on a MySQL-protocol database that answers
// version and gtidMode when asked about its GTIDs: no MySQL server, with
// GTIDs or without, is at hand in tests, only MariaDB.
func CheckMappingAs(ctx context.Context, db *gorm.DB, m domain.Mapping, version, gtidMode string) error {
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	srv := serverInfo{dialect: database.DriverMySQL, version: version, gtidMode: gtidMode}
	return checkMapping(ctx, fakeServer{mysqlCatalog{sqlDB}, srv}, m)
}

type fakeServer struct {
	catalog
	srv serverInfo
}

func (f fakeServer) server(context.Context) (serverInfo, error) { return f.srv, nil }
