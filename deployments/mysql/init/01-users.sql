-- Runs once, when the MySQL container initialises an empty data directory
-- (docker-entrypoint-initdb.d). The tables are not created here: the `seed`
-- service runs `gintoki seed`, which creates them exactly as `gintoki migrate`
-- does and then fills them.
--
-- The owner account (gintoki, ALL on inventory.*) comes from MYSQL_USER /
-- MYSQL_PASSWORD / MYSQL_DATABASE. Each other process gets only what it needs.
-- The passwords are for this local stack only.

-- Read nodes only ever read.
CREATE USER 'gintoki_ro'@'%' IDENTIFIED BY 'gintoki_ro';
GRANT SELECT ON inventory.* TO 'gintoki_ro'@'%';

-- Debezium's MySQL connector: binlog streaming (REPLICATION SLAVE/CLIENT),
-- the initial snapshot (SELECT, RELOAD for its global read lock, SHOW
-- DATABASES to list what to capture).
CREATE USER 'debezium'@'%' IDENTIFIED BY 'debezium';
GRANT SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'debezium'@'%';

-- `gintoki relay`: binlog streaming, SHOW BINARY LOG STATUS (REPLICATION
-- CLIENT), and on MySQL a brief FLUSH TABLES WITH READ LOCK (RELOAD) to pin
-- the binlog position its snapshot matches. It also wants the server started
-- with binlog_row_metadata=FULL (the compose file's --binlog-row-metadata=FULL)
-- and warns at start when it is not.
CREATE USER 'relay'@'%' IDENTIFIED BY 'relay';
GRANT RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'relay'@'%';
GRANT SELECT ON inventory.* TO 'relay'@'%';
