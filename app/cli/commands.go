package cli

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.uber.org/fx"
	"gorm.io/gorm"

	"github.com/gintoki/gintoki/adapter/fleetcontrol"
	"github.com/gintoki/gintoki/adapter/grpcserver"
	"github.com/gintoki/gintoki/adapter/httpapi"
	"github.com/gintoki/gintoki/adapter/kafkaauth"
	"github.com/gintoki/gintoki/app/adminmod"
	"github.com/gintoki/gintoki/app/dbmod"
	"github.com/gintoki/gintoki/app/demomod"
	"github.com/gintoki/gintoki/app/feedmod"
	"github.com/gintoki/gintoki/app/gatewaymod"
	"github.com/gintoki/gintoki/app/grpcmod"
	"github.com/gintoki/gintoki/app/httpmod"
	"github.com/gintoki/gintoki/app/listen"
	"github.com/gintoki/gintoki/app/readmod"
	"github.com/gintoki/gintoki/app/relaymod"
	"github.com/gintoki/gintoki/app/telemetrymod"
	"github.com/gintoki/gintoki/infrastructure/config"
	"github.com/gintoki/gintoki/infrastructure/database"
	"github.com/gintoki/gintoki/infrastructure/telemetry"
	"github.com/gintoki/gintoki/usecase/inventory"
	"github.com/gintoki/gintoki/usecase/readiness"
)

// readNodeSettings are the settings of every process that runs the read
// node (serve and demo).
type readNodeSettings struct {
	tel   config.Telemetry
	http  config.HTTP
	tls   config.ServerTLS
	grpc  config.GRPC
	db    config.DB
	cache config.Cache
	kafka config.Kafka
	rt    config.Runtime

	// schema is the tables read (--schema); a self-contained process reads
	// the tables it makes.
	schema config.Schema
}

// register adds the read node's flags. A self-contained process (demo)
// brings its own database and broker, so it takes only their tuning.
func (r *readNodeSettings) register(s *config.Set, selfContained bool) {
	r.tel.Register(s)
	r.http.Register(s, ":8080")
	r.grpc.Register(s, ":9090")
	r.tls.Register(s, "HTTP and gRPC listeners")
	if selfContained {
		r.db.RegisterTuning(s)
		r.kafka.RegisterPolicy(s)
		r.schema = config.DefaultSchema()
	} else {
		r.db.Register(s, "")
		r.schema.Register(s)
		r.kafka.Register(s)
	}
	r.cache.Register(s)
	r.rt.Register(s)
	s.Check(func() error {
		if r.cache.Bootstrap == config.BootstrapTopic && (selfContained || !r.kafka.Enabled()) {
			return fmt.Errorf("--cache-bootstrap=topic needs the change topics of a Kafka cluster (--kafka-brokers); the demo's in-process broker starts empty")
		}
		if r.grpc.DrainPeriod >= r.http.ShutdownTimeout {
			return fmt.Errorf("--grpc-drain-period (%s) must be shorter than --shutdown-timeout (%s), which it is part of", r.grpc.DrainPeriod, r.http.ShutdownTimeout)
		}
		return nil
	})
}

// options are the modules of a read node, with its change feed when feed
// is set; the caller supplies config.Kafka.
func (r *readNodeSettings) options(env Env, feed bool) []fx.Option {
	return []fx.Option{
		telemetryOf(env, r.tel),
		fx.Provide(func() readNodeConfig {
			return readNodeConfig{HTTP: r.http, TLS: r.tls, GRPC: r.grpc, DB: r.db, Schema: r.schema, Cache: r.cache}
		}),
		fx.Provide(listen.ServerTLS),
		fx.Invoke(func(log *slog.Logger) { telemetry.TuneGC(r.rt.GCPercent, r.rt.MemoryLimitMB, log) }),
		dbmod.Module,
		readmod.Module,
		feedmod.Module(feed),
		fx.Provide(
			func(r *inventory.Reader) httpapi.Reader { return r },
			func(r *inventory.Reader) grpcserver.Reader { return r },
			func(c *readiness.Checker) httpapi.ReadinessChecker { return c },
		),
		httpmod.Module,
		grpcmod.Module,
		adminmod.Module,
	}
}

func serveCommand() command {
	return command{
		summary: "Run the read node: HTTP + gRPC reads from the cache, filled from the database.",
		setup: func(s *config.Set, env Env) func() ([]fx.Option, error) {
			var r readNodeSettings
			r.register(s, false)
			return func() ([]fx.Option, error) {
				opts := append(r.options(env, r.kafka.Enabled()), fx.Provide(func() config.Kafka { return r.kafka }))
				opts = append(opts, fx.Invoke(func(log *slog.Logger) {
					if r.cache.Enabled && !r.kafka.Enabled() {
						log.Warn("no change feed configured: the cache is kept fresh by --cache-ttl alone", "cache_ttl", r.cache.TTL)
					}
				}))
				return opts, nil
			}
		},
	}
}

func demoCommand() command {
	return command{
		summary: "Run everything in one process with no outside service: an SQLite file, seeded on first start.",
		setup: func(s *config.Set, env Env) func() ([]fx.Option, error) {
			var r readNodeSettings
			var d demomod.Config
			var f demomod.FeedConfig
			r.register(s, true)
			s.String(&d.DBPath, "demo-db", "data/gintoki-demo.db", "SQLite file of the demo (created and seeded when absent)")
			s.Int(&d.Products, "demo-products", 100000, "products seeded into a new demo database")
			s.Int(&d.Warehouses, "demo-warehouses", 3, "warehouses seeded into a new demo database")
			s.Float(&f.Rate, "demo-rate", 20, "simulated stock changes per second, published as Debezium events (0: none)")
			s.Int(&f.ChangedProducts, "demo-changed-products", 20, "the simulator changes products 1..N only, so a few ids visibly move")
			s.Check(func() error {
				if d.Products < 1 || d.Warehouses < 1 {
					return fmt.Errorf("--demo-products and --demo-warehouses must be at least 1")
				}
				if f.Rate < 0 || f.ChangedProducts < 1 || f.ChangedProducts > d.Products {
					return fmt.Errorf("--demo-rate must not be negative and --demo-changed-products must be within 1..--demo-products")
				}
				return nil
			})
			return func() ([]fx.Option, error) {
				if err := demomod.EnsureDir(d.DBPath); err != nil {
					return nil, err
				}
				r.db.DSN = "sqlite://" + d.DBPath
				f.Warehouses, f.Kafka, f.DB = d.Warehouses, r.kafka, r.db
				// demomod first: its tables must exist before the
				// repository checks them.
				opts := append([]fx.Option{demomod.Module}, r.options(env, true)...)
				opts = append(opts, fx.Supply(d, f), demomod.Feed,
					fx.Invoke(func(lc fx.Lifecycle) {
						lc.Append(fx.StartHook(func() { printDemoHelp(env, r.http.Addr, r.grpc.Addr, f.Rate) }))
					}))
				return opts, nil
			}
		},
	}
}

func gatewayCommand() command {
	return command{
		summary: "Serve the HTTP API by calling a remote `gintoki serve` over gRPC.",
		setup: func(s *config.Set, env Env) func() ([]fx.Option, error) {
			var tel config.Telemetry
			var h config.HTTP
			var tl config.ServerTLS
			var g gatewaymod.Config
			var btls gatewaymod.BackendTLS
			tel.Register(s)
			h.Register(s, ":8080")
			tl.Register(s, "HTTP listener")
			g.Register(s)
			btls.Register(s)
			return func() ([]fx.Option, error) {
				return []fx.Option{
					telemetryOf(env, tel),
					fx.Provide(func() gatewayConfig { return gatewayConfig{HTTP: h, TLS: tl, Gateway: g, BackendTLS: btls} }),
					fx.Provide(listen.ServerTLS),
					gatewaymod.Module,
					httpmod.Module,
					adminmod.Module,
				}, nil
			}
		},
	}
}

func relayCommand() command {
	return command{
		summary: "Capture row changes from the MySQL/MariaDB binlog and publish them to Kafka as Debezium events.",
		setup: func(s *config.Set, env Env) func() ([]fx.Option, error) {
			var tel config.Telemetry
			var rc relaymod.Config
			tel.Register(s)
			rc.Register(s)
			return func() ([]fx.Option, error) {
				return []fx.Option{
					telemetryOf(env, tel),
					fx.Provide(func() relaymod.Config { return rc }),
					relaymod.Module,
				}, nil
			}
		},
	}
}

func migrateCommand() command {
	return command{
		summary: "Create the tables (warehouses, stock_items) if they do not exist.",
		oneShot: true,
		setup: func(s *config.Set, env Env) func() ([]fx.Option, error) {
			var tel config.Telemetry
			var db config.DB
			tel.Register(s)
			config.RefuseSchema(s, "migrate")
			db.Register(s, "")
			return func() ([]fx.Option, error) {
				return databaseTask(env, tel, db, time.Minute, func(ctx context.Context, gdb *gorm.DB) error {
					if err := database.Migrate(ctx, gdb); err != nil {
						return err
					}
					fmt.Fprintln(env.Stdout, "migrated: warehouses, stock_items")
					return nil
				}), nil
			}
		},
	}
}

func seedCommand() command {
	return command{
		summary: "Fill products 1..N, each stocked in warehouses 1..M (creates the tables first).",
		oneShot: true,
		setup: func(s *config.Set, env Env) func() ([]fx.Option, error) {
			var tel config.Telemetry
			var db config.DB
			var products, warehouses int
			tel.Register(s)
			config.RefuseSchema(s, "seed")
			db.Register(s, "")
			s.Int(&products, "products", 100000, "number of products")
			s.Int(&warehouses, "warehouses", 3, "number of warehouses")
			s.Check(func() error {
				if products < 1 || warehouses < 1 || warehouses > database.MaxSeedWarehouses {
					return fmt.Errorf("--products must be at least 1 and --warehouses within 1..%d", database.MaxSeedWarehouses)
				}
				return nil
			})
			return func() ([]fx.Option, error) {
				return databaseTask(env, tel, db, 30*time.Minute, func(ctx context.Context, gdb *gorm.DB) error {
					if err := database.Migrate(ctx, gdb); err != nil {
						return err
					}
					st, err := database.Seed(ctx, gdb, products, warehouses)
					if err != nil {
						return err
					}
					fmt.Fprintf(env.Stdout, "seeded %d products x %d warehouses (%d stock rows, version %d) in %s\n",
						st.Products, st.Warehouses, st.StockRows, st.Version, st.Elapsed.Round(time.Millisecond))
					return nil
				}), nil
			}
		},
	}
}

func flushCommand() command {
	return command{
		summary: "Flush the cache of every read node at once (after a restore, a bulk load that reused versions, an incident).",
		oneShot: true,
		setup: func(s *config.Set, env Env) func() ([]fx.Option, error) {
			var tel config.Telemetry
			var k config.KafkaClient
			var prefix, topic, reason string
			tel.Register(s)
			k.Register(s, "gintoki-flush", "Kafka bootstrap brokers (host:port) of the read nodes' change feed")
			s.String(&prefix, "cdc-topic-prefix", "gintoki", "Debezium topic.prefix the read nodes use: the control topic is __gintoki-control.<prefix>")
			s.String(&topic, "cdc-control-topic", "", "control topic, when the read nodes set --cdc-control-topic (default: __gintoki-control.<prefix>)")
			s.String(&reason, "reason", "", "why, for the read nodes' logs")
			s.Check(func() error {
				if len(k.Brokers) == 0 {
					return fmt.Errorf("--kafka-brokers is required")
				}
				if topic == "off" {
					return fmt.Errorf("--cdc-control-topic off: there is no control topic to send to")
				}
				return nil
			})
			return func() ([]fx.Option, error) {
				if topic == "" {
					topic = fleetcontrol.Topic(prefix)
				}
				return []fx.Option{
					telemetryOf(env, tel),
					fx.Invoke(func(log *slog.Logger) error {
						secure, err := kafkaauth.FromSettings(k.KafkaSecurity).Setup(log)
						if err != nil {
							return err
						}
						ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
						defer cancel()
						cmd := fleetcontrol.NewFlush(reason, time.Now())
						cl := fleetcontrol.Cluster{Brokers: k.Brokers, Version: k.Version, ClientID: k.ClientID, Secure: secure}
						partition, offset, err := fleetcontrol.SendTo(ctx, cl, topic, cmd)
						if err != nil {
							return fmt.Errorf("flush: %w", err)
						}
						fmt.Fprintf(env.Stdout, "flush %s written to %s (partition %d, offset %d): every read node consuming it drops its cache and reloads its warehouses\n",
							cmd.ID, topic, partition, offset)
						return nil
					}),
				}, nil
			}
		},
	}
}

// withTelemetry supplies the settings every command's app takes, the
// telemetry settings first, and the logs, metrics and traces built on them.
// telemetryOf is the telemetry module with its settings and output.
func telemetryOf(env Env, tel config.Telemetry) fx.Option {
	return fx.Options(
		fx.Provide(func() config.Telemetry { return tel }, func() telemetrymod.Output { return telemetrymod.Output{W: env.Stderr} }),
		telemetrymod.Module)
}

// readNodeConfig and gatewayConfig are the settings a process hands its
// modules, one typed field each: a setting a module needs and nobody
// provides is a start-up error naming its type.
type readNodeConfig struct {
	fx.Out
	HTTP   config.HTTP
	TLS    config.ServerTLS
	GRPC   config.GRPC
	DB     config.DB
	Schema config.Schema
	Cache  config.Cache
}

type gatewayConfig struct {
	fx.Out
	HTTP       config.HTTP
	TLS        config.ServerTLS
	Gateway    gatewaymod.Config
	BackendTLS gatewaymod.BackendTLS
}

// databaseTask is a one-shot command on the database (migrate, seed): run
// gets the connection and at most timeout.
func databaseTask(env Env, tel config.Telemetry, db config.DB, timeout time.Duration, run func(context.Context, *gorm.DB) error) []fx.Option {
	return []fx.Option{
		telemetryOf(env, tel),
		fx.Provide(func() config.DB { return db }),
		dbmod.Module,
		fx.Invoke(func(gdb *gorm.DB) error {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			return run(ctx, gdb)
		}),
	}
}

func printDemoHelp(env Env, httpAddr, grpcAddr string, rate float64) {
	base := "http://" + hostPort(httpAddr)
	fmt.Fprintf(env.Stdout, `
Gintoki demo is up.
  %[1]s/cache?product_id=42
  %[1]s/v1/products/42/inventory
  curl -s -XPOST %[1]s/v1/product-inventory -d '{"product_ids":[1,2,3,999999999]}'
  %[1]s/healthz   %[1]s/readyz   %[1]s/metrics
  grpcurl -plaintext -d '{"product_id":42}' %[2]s gintoki.inventory.v1.InventoryService/GetProductInventory
`, base, hostPort(grpcAddr))
	if rate > 0 {
		fmt.Fprintf(env.Stdout, `Live changes: a simulator updates %[2]g stock rows per second and publishes Debezium events to an
in-process Kafka-protocol broker; this node consumes them. Watch product 1 move:
  while sleep 1; do curl -s '%[1]s/cache?product_id=1'; echo; done
  curl -s %[1]s/metrics | grep gintoki_cdc_events_total
`, base, rate)
	}
	fmt.Fprintln(env.Stdout, "Stop with Ctrl-C.")
}

func hostPort(addr string) string {
	if len(addr) > 0 && addr[0] == ':' {
		return "localhost" + addr
	}
	return addr
}
