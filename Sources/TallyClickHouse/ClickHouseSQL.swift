import TallyCore
import TallyStore

/// What a row of the `usage` table holds, by its `kind` column.
///
/// Every row a commit writes lives in this one table, so one `INSERT` (one part, in one
/// partition) carries a whole commit: cells, receipts, checkpoints and markers appear together
/// or not at all. ClickHouse has no multi-statement transactions; this is the atomic unit it has.
enum RowKind: UInt8, Sendable {
    case quarterHour = 1
    case hour = 2
    case day = 3
    /// `account` = idempotency key, `bucket` = write id, `m0`/`m1` = accepted/duplicates.
    case receipt = 10
    /// `account` = reader, `bucket` = write id, `d0` = position.
    case checkpoint = 11
    /// One per committed write, on the home shard: `bucket` = write id, `m0` = receivedAt of its last batch.
    case commit = 12
    /// One per shard a write touched: `bucket` = write id, `d0` = shard index. Event ids in
    /// `seen` count only once the marker of their write and shard exists.
    case portion = 13
    /// Written (once per write) when a write stores a negative metric value; see `aggregate`.
    case signed = 14

    init(_ tier: Tier) {
        switch tier {
        case .quarterHour: self = .quarterHour
        case .hour: self = .hour
        case .day: self = .day
        }
    }
}

/// A store's fixed columns: the product's dimensions and metrics map onto them through `layout`.
enum Columns {
    static let dimensions = 8
    static let metrics = 8
    static let dimensionList = (0..<dimensions).map { "d\($0)" }.joined(separator: ", ")
    static let metricList = (0..<metrics).map { "m\($0)" }.joined(separator: ", ")

    static let usage: [(String, String)] =
        [("month", "UInt32"), ("kind", "UInt8"), ("account", "String"), ("product", "String"), ("bucket", "Int64")]
        + (0..<dimensions).map { ("d\($0)", "String") }
        + [("shard_key", "UInt64"), ("n", "UInt64")]
        + (0..<metrics).map { ("m\($0)", "Int64") }
    static let seen: [(String, String)] =
        [("day", "UInt32"), ("key", "String"), ("at", "Int64"), ("write", "Int64"), ("shard", "UInt16"), ("shard_key", "UInt64")]
    static let layout: [(String, String)] = [("product", "String"), ("kind", "String"), ("name", "String"), ("col", "UInt8")]

    static func definition(_ columns: [(String, String)]) -> String {
        columns.map { "\($0.0) \($0.1)" }.joined(separator: ", ")
    }
}

/// Where a product's dimensions and metrics live among the fixed columns.
struct ColumnLayout: Sendable, Equatable {
    var dimensionColumns: [Int]
    var metricColumns: [Int]

    /// The columns of `names`: every name keeps the column it had before (so reordering the
    /// configuration never remaps stored data), and new names take the lowest free columns.
    /// Returns nil when there are more names than free columns.
    static func assign(existing: [String: Int], names: [String], capacity: Int) -> (columns: [Int], added: [(String, Int)])? {
        var used = Set(existing.values)
        var columns: [Int] = []
        var added: [(String, Int)] = []
        for name in names {
            if let c = existing[name] {
                columns.append(c)
                continue
            }
            guard let free = (0..<capacity).first(where: { !used.contains($0) }) else { return nil }
            used.insert(free)
            columns.append(free)
            added.append((name, free))
        }
        return (columns, added)
    }
}

/// The tables of one store: reads go to `usage`/`seen` (Distributed tables in a cluster),
/// writes to `usage_local`/`seen_local` on each shard (the same tables on a single node).
struct ClickHouseTables: Sendable, Equatable {
    let database: String
    let cluster: String?

    var usage: String { "\(database).usage" }
    var seen: String { "\(database).seen" }
    var layout: String { "\(database).layout" }
    var usageLocalName: String { cluster == nil ? "usage" : "usage_local" }
    var seenLocalName: String { cluster == nil ? "seen" : "seen_local" }
    var usageLocal: String { "\(database).\(usageLocalName)" }
    var seenLocal: String { "\(database).\(seenLocalName)" }

    /// A database name is used unquoted in SQL, so only these are accepted.
    static func isValidDatabase(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !name.isEmpty, name.utf8.count <= 64 else { return false }
        let ok = { (c: Unicode.Scalar) in c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) }
        return !("0"..."9").contains(first) && name.unicodeScalars.allSatisfy(ok)
    }

    /// Statements creating every table a shard holds (a single node is its own only shard).
    var shardSchema: [String] {
        [
            "CREATE DATABASE IF NOT EXISTS \(database)",
            """
            CREATE TABLE IF NOT EXISTS \(usageLocal) (\(Columns.definition(Columns.usage))) \
            ENGINE = SummingMergeTree((n, \(Columns.metricList))) PARTITION BY month \
            ORDER BY (kind, account, product, bucket, \(Columns.dimensionList))
            """,
            "CREATE TABLE IF NOT EXISTS \(seenLocal) (\(Columns.definition(Columns.seen))) ENGINE = MergeTree PARTITION BY day ORDER BY key",
        ]
    }

    /// Statements creating the layout table on the home shard.
    var homeSchema: [String] {
        ["CREATE TABLE IF NOT EXISTS \(layout) (\(Columns.definition(Columns.layout))) ENGINE = MergeTree ORDER BY (product, kind, name)"]
    }

    /// Statements creating the Distributed tables on the node reads go to (cluster mode only).
    var distributedSchema: [String] {
        guard let cluster else { return [] }
        return [
            "CREATE DATABASE IF NOT EXISTS \(database)",
            "CREATE TABLE IF NOT EXISTS \(usage) (\(Columns.definition(Columns.usage))) ENGINE = Distributed(\(literal(cluster)), \(database), usage_local, shard_key)",
            "CREATE TABLE IF NOT EXISTS \(seen) (\(Columns.definition(Columns.seen))) ENGINE = Distributed(\(literal(cluster)), \(database), seen_local, shard_key)",
        ]
    }

    /// Reads the columns of `table` (to compare with what this version expects).
    func columnsQuery(table: String) -> String {
        "SELECT name, type FROM system.columns WHERE database = \(literal(database)) AND table = \(literal(table)) FORMAT RowBinary"
    }
}

/// A ClickHouse string literal: quotes, backslashes and control bytes escaped, other bytes as they are.
func literal(_ s: String) -> String {
    var out = "'"
    for scalar in s.unicodeScalars {
        switch scalar {
        case "'": out += "\\'"
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20 || scalar.value == 0x7F:
            let hex = Array("0123456789ABCDEF")
            out += "\\x\(hex[Int(scalar.value >> 4)])\(hex[Int(scalar.value & 15)])"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "'"
}

/// The exact value `hi · 2³² + lo`, nil when it leaves the Int64 range.
///
/// ClickHouse 18.16 has no 128-bit integers and `sum(Int64)` wraps silently, so a sum that may
/// leave the range is read as the sums of the high and the low 32 bits of each value (neither
/// can overflow before 2³¹ rows), joined here exactly.
func joinHalves(hi: Int64, lo: Int64) -> Int64? {
    Int64(exactly: Int128(hi) << 32 + Int128(lo))
}

/// The select expressions summing column `c` in halves (see `joinHalves`).
func halfSums(_ c: String) -> String {
    "sum(toInt64(bitShiftRight(\(c), 32))), sum(toInt64(bitAnd(\(c), 4294967295)))"
}

/// Pure SQL builders, each returning the statement and the external tables it reads; tested
/// as (sql, tables) pairs without a server.
enum ClickHouseQueries {
    /// The aggregate read of a store query: nil when it can match nothing (no accounts, an
    /// empty range, a filter listing no value), so no query is sent.
    ///
    /// Sums across cells are taken in halves (see `joinHalves`), which is exact when every
    /// stored row holds its true value. That is so while no negative value was ever stored:
    /// every cell's sum is kept inside Int64 at commit, so no row (a write's delta, or a merge of
    /// rows) can wrap. Once one was (`signed`), a subset of a cell's rows may wrap even though the
    /// cell does not, so an inner query first sums each cell (a whole sort key) with plain
    /// `sum`, exact because two's-complement addition is associative, and the outer one sums
    /// cells in halves; that costs about ten times more, and Tally's own ingest never stores a
    /// negative value.
    static func aggregate(_ q: StoreQuery, layout: ColumnLayout, tables: ClickHouseTables, signed: Bool) -> (String, [ExternalTable])? {
        if q.accounts.isEmpty || q.from >= q.to || q.filters.values.contains(where: \.isEmpty) { return nil }
        var keys = ["bucket"]
        if q.groupByAccount { keys.append("account") }
        keys += q.groupBy.map { "d\(layout.dimensionColumns[$0])" }
        var accounts = ExternalTable("accounts", "account String")
        for a in q.accounts { accounts.rows.string(a) }
        var external = [accounts]
        var conditions = [
            "kind = \(RowKind(q.tier).rawValue)", "account GLOBAL IN accounts", "product = \(literal(q.product))",
            "bucket >= \(q.from)", "bucket < \(q.to)",
        ]
        for (dim, values) in q.filters.sorted(by: { $0.key < $1.key }) {
            var t = ExternalTable("f\(dim)", "v String")
            for v in values { t.rows.string(v) }
            external.append(t)
            conditions.append("d\(layout.dimensionColumns[dim]) GLOBAL IN f\(dim)")
        }
        let group = keys.joined(separator: ", ")
        let condition = conditions.joined(separator: " AND ")
        guard signed else {
            let sums = layout.metricColumns.map { halfSums("m\($0)") }
            let sql = "SELECT \(([group] + sums).joined(separator: ", ")) FROM \(tables.usage) WHERE \(condition) GROUP BY \(group) ORDER BY \(group) FORMAT RowBinary"
            return (sql, external)
        }
        let cells = layout.metricColumns.map { "sum(m\($0)) AS c\($0)" }.joined(separator: ", ")
        let inner = """
            SELECT bucket, account, \(Columns.dimensionList), \(cells) FROM \(tables.usage) \
            WHERE \(condition) GROUP BY bucket, account, \(Columns.dimensionList)
            """
        let sums = layout.metricColumns.map { halfSums("c\($0)") }
        let sql = "SELECT \(([group] + sums).joined(separator: ", ")) FROM (\(inner)) GROUP BY \(group) ORDER BY \(group) FORMAT RowBinary"
        return (sql, external)
    }

    /// Stored receipts of idempotency keys: (key, write, accepted, duplicates).
    static func receipts(_ keys: some Sequence<String>, tables: ClickHouseTables) -> (String, [ExternalTable]) {
        var t = ExternalTable("keys", "key String")
        for k in keys { t.rows.string(k) }
        return ("SELECT account, bucket, m0, m1 FROM \(tables.usage) WHERE kind = \(RowKind.receipt.rawValue) AND account GLOBAL IN keys ORDER BY bucket FORMAT RowBinary", [t])
    }

    /// Sightings of event keys after `after` (epoch s): (key, write, shard, latest time).
    static func seen(_ keys: some Sequence<String>, after: Int64, tables: ClickHouseTables) -> (String, [ExternalTable]) {
        var t = ExternalTable("keys", "key String")
        for k in keys { t.rows.string(k) }
        let sql = """
            SELECT key, write, shard, max(at) FROM \(tables.seen) WHERE key GLOBAL IN keys AND day >= \(max(0, floorDiv(after, 86_400))) \
            AND at > \(after) GROUP BY key, write, shard FORMAT RowBinary
            """
        return (sql, [t])
    }

    /// Which of the given writes' portions landed: (write, shard index as text).
    static func portions(_ writes: some Sequence<Int64>, table: String) -> (String, [ExternalTable]) {
        var t = ExternalTable("writes", "write Int64")
        for w in writes { t.rows.int64(w) }
        let sql = "SELECT bucket, d0 FROM \(table) WHERE kind = \(RowKind.portion.rawValue) AND account = '' AND product = '' AND bucket GLOBAL IN writes FORMAT RowBinary"
        return (sql, [t])
    }

    /// The stored sum of each given cell (every metric column), for the overflow check.
    static func cellSums(_ cells: some Collection<Cell>, series: SeriesTable, tables: ClickHouseTables) -> (String, [ExternalTable]) {
        let keyColumns = "kind, account, product, bucket, \(Columns.dimensionList)"
        var t = ExternalTable("cells", "kind UInt8, account String, product String, bucket Int64, " + (0..<Columns.dimensions).map { "d\($0) String" }.joined(separator: ", "))
        var lo = Int64.max, hi = Int64.min
        for c in cells {
            let k = series.keys[Int(c.series)]
            t.rows.uint8(c.kind.rawValue)
            t.rows.string(k.account.value)
            t.rows.string(k.product.value)
            t.rows.int64(c.bucket)
            for d in k.columns { t.rows.string(d.value) }
            lo = min(lo, c.bucket)
            hi = max(hi, c.bucket)
        }
        let sums = (0..<Columns.metrics).map { "sum(m\($0))" }.joined(separator: ", ")
        let sql = """
            SELECT \(keyColumns), \(sums) FROM \(tables.usage) WHERE kind IN (1, 2, 3) AND account GLOBAL IN (SELECT account FROM cells) \
            AND bucket >= \(lo) AND bucket <= \(hi) AND (\(keyColumns)) GLOBAL IN cells GROUP BY \(keyColumns) FORMAT RowBinary
            """
        return (sql, [t])
    }

    /// The latest position of a reader.
    static func checkpoint(_ reader: String, tables: ClickHouseTables) -> String {
        "SELECT d0 FROM \(tables.usage) WHERE kind = \(RowKind.checkpoint.rawValue) AND account = \(literal(reader)) ORDER BY bucket DESC LIMIT 1 FORMAT RowBinary"
    }

    /// Whether any negative metric value was ever stored (a count of `signed` markers).
    static func signed(tables: ClickHouseTables) -> String {
        "SELECT count() FROM \(tables.usage) WHERE kind = \(RowKind.signed.rawValue) FORMAT RowBinary"
    }

    /// The latest write: (write id, receivedAt of its last batch).
    static func lastCommit(tables: ClickHouseTables) -> String {
        "SELECT bucket, m0 FROM \(tables.usage) WHERE kind = \(RowKind.commit.rawValue) ORDER BY bucket DESC LIMIT 1 FORMAT RowBinary"
    }
}

/// An account, product and dimension values in column space (values placed in their layout
/// columns): the part of a cell's key that is the same at every tier and time, compared by bytes.
struct SeriesKey: Hashable, Sendable {
    var account: ExactString
    var product: ExactString
    /// Exactly `Columns.dimensions` values.
    var columns: [ExactString]
}

/// The series one group commit touches, each hashed once and then named by its index.
struct SeriesTable: Sendable {
    private(set) var keys: [SeriesKey] = []
    private var index: [SeriesKey: Int32] = [:]

    mutating func id(_ key: SeriesKey) -> Int32 {
        if let i = index[key] { return i }
        let i = Int32(keys.count)
        keys.append(key)
        index[key] = i
        return i
    }

    func find(_ key: SeriesKey) -> Int32? { index[key] }
}

/// One aggregate cell: a series at one tier's bucket.
struct Cell: Hashable, Sendable {
    var series: Int32
    var kind: RowKind
    var bucket: Int64

    /// The same series' cell at a coarser tier.
    func at(_ tier: Tier) -> Cell { Cell(series: series, kind: RowKind(tier), bucket: floorDiv(bucket, tier.seconds) * tier.seconds) }
}
