import TallyStore

/// The dedup keys accepted inside the window, in memory, with the time each was accepted.
///
/// Durably they live in `seen_keys`, one row (a run) per commit holding its new keys as one blob:
/// appending a run costs one row however many events a commit has, where a row per key would
/// cap ingest at a few hundred thousand events a second. This index is rebuilt from the runs and
/// kept in step with them: the writer reads runs other writers added at the start of each
/// transaction, and undoes its own entries when a batch or transaction rolls back.
/// It costs about 50 bytes of memory per key inside the window.
struct DedupIndex {
    private var acceptedAt: [DedupKey: Int64] = [:]
    /// Every change since `commit()`, to undo on rollback: the key and its previous time.
    private var journal: [(DedupKey, Int64?)] = []
    /// The `seen_keys` id up to which runs are in the index.
    var loadedThrough: Int64 = 0
    private var collectAt = 1 << 20

    var count: Int { acceptedAt.count }
    var mark: Int { journal.count }

    /// Makes room for `n` more keys at once (growing key by key rehashes many times).
    mutating func reserve(_ n: Int) { acceptedAt.reserveCapacity(acceptedAt.count + n) }

    /// Whether `key` is new or was accepted at or before `cutoff`; if so it is recorded as accepted `at`.
    mutating func admit(_ key: DedupKey, at: Int64, cutoff: Int64) -> Bool {
        let previous = acceptedAt[key]
        if let previous, previous > cutoff { return false }
        journal.append((key, previous))
        acceptedAt[key] = at
        return true
    }

    /// Adds a committed run's keys (read from `seen_keys`).
    mutating func load(run bytes: UnsafeRawBufferPointer, at: Int64) {
        for i in 0..<(bytes.count / 16) {
            let key = DedupKey(h1: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 16, as: UInt64.self)),
                               h2: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i * 16 + 8, as: UInt64.self)))
            if (acceptedAt[key] ?? .min) < at { acceptedAt[key] = at }
        }
    }

    /// Takes back every change after `mark`.
    mutating func undo(to mark: Int) {
        while journal.count > mark {
            let (key, previous) = journal.removeLast()
            acceptedAt[key] = previous
        }
    }

    /// Makes the changes so far permanent, and now and then drops keys accepted at or before `cutoff`.
    mutating func commit(cutoff: Int64) {
        journal.removeAll(keepingCapacity: journal.count < 1 << 16)
        if acceptedAt.count > collectAt {
            acceptedAt = acceptedAt.filter { $0.value > cutoff }
            collectAt = max(1 << 20, 2 * acceptedAt.count)
        }
    }

    /// A run's blob: each key's 16 bytes, little-endian.
    static func run(_ keys: [DedupKey]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(keys.count * 16)
        for k in keys {
            withUnsafeBytes(of: k.h1.littleEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: k.h2.littleEndian) { out.append(contentsOf: $0) }
        }
        return out
    }
}
