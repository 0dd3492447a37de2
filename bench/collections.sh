# bench/collections.sh - the endpoints of the collections benchmark, read by
# bench/run through BENCH_ENDPOINTS_FILE (bench/collections runs it on SQLite
# and on PostgreSQL). One collection, bench_tasks (indexes on status and
# points, full-text search on title and body), holding 100,000 records in one
# organization and 10,000 in each of 10 others; the rows are written straight
# into the database (each organization under its own tenant context on
# PostgreSQL), then the requests run against the big organization:
#   - a filtered list on an indexed field (filter[status], 50 per page)
#   - the same list in one of the small organizations
#   - full-text search (q=, about 100 hits, 50 per page)
#   - create (POST, validated, counted, audited)
#   - PATCH with If-Match (a merge patch of one field, round-robin over 1,000
#     records; If-Match: * so that concurrent connections do not refuse each
#     other: the precondition is checked, the version moves)
# shellcheck shell=bash disable=SC2034,SC2317

ENDPOINTS=(
	"GET records, filter on an indexed field (100k org) | GET /v1/orgs/{BENCH_COLL_ORG}/collections/bench_tasks/records?filter%5Bstatus%5D=review&limit=50 | bench/request.lua | setup_collections"
	"GET records, filter on an indexed field (10k org of 10) | GET /v1/orgs/{BENCH_COLL_SMALL}/collections/bench_tasks/records?filter%5Bstatus%5D=review&limit=50 | bench/request.lua | setup_collections"
	"GET records, full-text search (100k org) | GET /v1/orgs/{BENCH_COLL_ORG}/collections/bench_tasks/records?q=w417&limit=50 | bench/request.lua | setup_collections"
	"POST record (validated, audited) | POST /v1/orgs/{BENCH_COLL_ORG}/collections/bench_tasks/records | bench/request.lua | setup_collections_create"
	"PATCH record with If-Match | PATCH /v1/orgs/{BENCH_COLL_ORG}/collections/bench_tasks/records | bench/collections.lua | setup_collections_patch"
)

BENCH_COLL_SEEDED=""

# seed_records ORG COUNT: COUNT records of bench_tasks in ORG, straight into
# the database.
seed_records() {
	local org=$1 n=$2
	if [[ -n ${PLINTH_DATABASE_URL:-} ]]; then
		psql -q -v ON_ERROR_STOP=1 "$PLINTH_DATABASE_URL" >/dev/null <<-SQL || return 1
			BEGIN;
			SELECT set_config('app.org_id', '$org', true);
			INSERT INTO records (id, org_id, collection, project_id, data, search_text, version,
			                     created_by, created_at, updated_at)
			SELECT lpad(to_hex(i), 8, '0') || '-' || substr(md5('$org' || i), 1, 4) || '-7' ||
			       substr(md5('$org' || i), 5, 3) || '-8' || substr(md5('$org' || i), 8, 3) || '-' ||
			       substr(md5('$org' || i), 11, 12),
			       '$org', 'bench_tasks', NULL,
			       jsonb_build_object('title', 'Task ' || i, 'status',
			                          (ARRAY['todo','doing','review','done'])[1 + i % 4],
			                          'points', i % 13, 'body', 'note w' || (i % 1000) || ' of task ' || i),
			       'Task ' || i || E'\n' || 'note w' || (i % 1000) || ' of task ' || i || E'\n',
			       1, NULL, 1764000000000 + i, 1764000000000 + i
			FROM generate_series(1, $n) AS i;
			COMMIT;
			ANALYZE records;
		SQL
	else
		/usr/bin/python3 - "$TMP/data/plinth.db" "$org" "$n" <<-'PY' || return 1
			import hashlib, json, sqlite3, sys
			path, org, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
			con = sqlite3.connect(path, timeout=60)
			statuses = ["todo", "doing", "review", "done"]
			def rows():
			    for i in range(1, n + 1):
			        h = hashlib.md5(("%s%d" % (org, i)).encode()).hexdigest()
			        rid = "%08x-%s-7%s-8%s-%s" % (i, h[0:4], h[4:7], h[7:10], h[10:22])
			        body = "note w%d of task %d" % (i % 1000, i)
			        data = {"title": "Task %d" % i, "status": statuses[i % 4], "points": i % 13,
			                "body": body}
			        yield (rid, org, json.dumps(data, separators=(",", ":")),
			               "Task %d\n%s\n" % (i, body), 1764000000000 + i)
			with con:
			    con.executemany(
			        "INSERT INTO records (id, org_id, collection, project_id, data, search_text, "
			        "version, created_by, created_at, updated_at) "
			        "VALUES (?, ?, 'bench_tasks', NULL, ?, ?, 1, NULL, ?, ?5)", rows())
			con.execute("ANALYZE")
			con.close()
		PY
	fi
}

setup_collections() {
	bench_user_token || return 1
	export BENCH_AUTHORIZATION="Bearer $BENCH_TOKEN"
	[[ -n $BENCH_COLL_SEEDED ]] && return 0
	local admin_email=benchadmin@example.com token org i
	printf '%s\n' "$BENCH_PASSWORD" | "$PLINTH_BIN" admin create --email "$admin_email" \
		--data "$TMP/data" >/dev/null 2>&1 || return 1
	token=$(api POST /v1/auth/login \
		"{\"email\":\"$admin_email\",\"password\":\"$BENCH_PASSWORD\"}") || return 1
	BENCH_ADMIN_TOKEN=$(json_field access_token <<<"$token") || return 1
	api PUT /v1/admin/collections/bench_tasks '{"scope":"org","schema":{"type":"object",
		"properties":{"title":{"type":"string","minLength":1,"maxLength":200},
		"status":{"type":"string","enum":["todo","doing","review","done"]},
		"points":{"type":"integer","minimum":0,"maximum":100},"body":{"type":"string","maxLength":10000}},
		"required":["title","status"],"additionalProperties":false},
		"indexes":[["status"],["points"]],"search":["title","body"]}' "$BENCH_ADMIN_TOKEN" >/dev/null || return 1
	org=$(api POST /v1/orgs '{"name":"Bench Records"}' "$BENCH_TOKEN") || return 1
	BENCH_COLL_ORG=$(json_field id <<<"$org") || return 1
	echo "bench: seeding 100,000 records" >&2
	seed_records "$BENCH_COLL_ORG" 100000 || return 1
	for i in $(seq 1 10); do
		org=$(api POST /v1/orgs "{\"name\":\"Bench Records $i\"}" "$BENCH_TOKEN") || return 1
		BENCH_COLL_SMALL=$(json_field id <<<"$org") || return 1
		echo "bench: seeding 10,000 records in org $i" >&2
		seed_records "$BENCH_COLL_SMALL" 10000 || return 1
	done
	export BENCH_COLL_ORG BENCH_COLL_SMALL
	BENCH_COLL_SEEDED=1
}

setup_collections_create() {
	setup_collections || return 1
	export BENCH_BODY='{"title":"A new task","status":"todo","points":3,"body":"created by the bench w999"}'
}

setup_collections_patch() {
	setup_collections || return 1
	local page
	page=$(curl -s -H "Authorization: Bearer $BENCH_TOKEN" \
		"$PLINTH_URL/v1/orgs/$BENCH_COLL_ORG/collections/bench_tasks/records?limit=200&filter%5Bpoints%5D=5") || return 1
	BENCH_IDS=$(/usr/bin/python3 -c 'import json,sys; print(",".join(r["id"] for r in json.load(sys.stdin)["data"]))' <<<"$page") || return 1
	[[ -n $BENCH_IDS ]] || return 1
	export BENCH_IDS BENCH_BODY='{"points":7}'
}
