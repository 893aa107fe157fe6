#!/usr/bin/env bash
# Makes sure the local MariaDB answers on 127.0.0.1:3306 as root without a
# password, with the binlog on in ROW format, full row images and full row
# metadata (the relay's tests read it). Starts it, installs it or restarts it
# with the right options when needed.
set -euo pipefail

ping_db() { mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1; }
binlog_ok() {
  [[ "$(mysql --protocol=tcp -h127.0.0.1 -uroot -N -e "SELECT CONCAT_WS(' ', @@log_bin+0, @@binlog_format, @@binlog_row_image, @@global.binlog_row_metadata)" 2>/dev/null)" == "1 ROW FULL FULL" ]]
}
start_db() {
  mkdir -p /run/mysqld /var/log/mysql
  chown mysql:mysql /run/mysqld /var/log/mysql 2>/dev/null || true
  # Options on the command line, so no system configuration file is edited.
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- \
    --server-id=1 --log-bin=mysql-bin --binlog-format=ROW --binlog-row-image=FULL \
    --binlog-row-metadata=FULL --expire-logs-days=1
  for _ in $(seq 1 60); do ping_db && return 0; sleep 1; done
  echo "MariaDB did not come up on 127.0.0.1:3306" >&2
  return 1
}

if [[ ! -x /usr/sbin/mariadbd ]]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi

if ping_db && ! binlog_ok; then
  echo "restarting MariaDB with the binlog on (ROW, FULL images, FULL row metadata)"
  mysqladmin -uroot shutdown
  for _ in $(seq 1 60); do pgrep -x mariadbd >/dev/null || break; sleep 1; done
fi
ping_db || start_db

# root over TCP without a password, as the tests expect.
mysql -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" 2>/dev/null || true
mysql --protocol=tcp -h127.0.0.1 -uroot -e "SELECT VERSION() AS version, @@log_bin AS log_bin, @@binlog_format AS binlog_format, @@binlog_row_image AS row_image, @@global.binlog_row_metadata AS row_metadata"
