#!/usr/bin/env sh
# Write docker/.env with a generated password for the "elastic" user (never overwrites an existing one).
set -eu
cd "$(dirname "$0")"
if [ -f .env ]; then
    echo "docker/.env exists; keeping its password"
    exit 0
fi
umask 077
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
cat > .env <<ENV
ES_VERSION=9.0.0
ES_HEAP=2g
ELASTIC_PASSWORD=$password
ENV
echo "wrote docker/.env (user elastic); load it with: set -a; . docker/.env; set +a"
