#!/usr/bin/env bash
# Makes sure the local MariaDB answers on 127.0.0.1:3306 as root without a
# password, starting it (or installing it) when needed.
set -euo pipefail

ping_db() { mysqladmin --protocol=tcp -h127.0.0.1 -uroot ping >/dev/null 2>&1; }

if ! command -v mariadbd >/dev/null && [[ ! -x /usr/sbin/mariadbd ]]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
fi

if ! ping_db; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do ping_db && break; sleep 1; done
fi
ping_db || { echo "MariaDB did not come up on 127.0.0.1:3306" >&2; exit 1; }

# root over TCP without a password, as the tests expect.
mysql -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;" 2>/dev/null || true
mysql --protocol=tcp -h127.0.0.1 -uroot -e "SELECT VERSION()" 
