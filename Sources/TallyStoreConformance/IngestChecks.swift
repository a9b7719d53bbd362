import TallyCore
import TallyStore
import Testing

extension UsageStoreConformance {
    // MARK: Atomicity

    /// A batch whose sums overflow Int64 throws `StoreError(.overflow)` and leaves nothing behind:
    /// no sums (not even of its other accounts), no dedup keys, no idempotency receipt, no
    /// checkpoint, no commit time; the earlier good batch stays.
    public func overflowRollsBackBatch() async throws {
        let t0 = Self.t0
        let good = [Self.api(t0, metrics: [1, 10, 100], id: "g1", source: "s"), Self.api(t0 + 7_200, "beta", region: "us")]
        let innocent = Self.api(t0 + 60, "newco", metrics: [1, 1, 1], id: "b1", source: "s")
        let bad = [innocent, Self.api(t0 + 1, "zz", metrics: [.max - 5, 0, 0]), Self.api(t0 + 2, "zz", metrics: [10, 0, 0])]
        try await withStore { store async throws in
            try await commit(store, good, at: t0 + 10, key: "good", checkpoint: Checkpoint(reader: "tail", position: "10"))
            let error = await #expect(throws: StoreError.self) {
                try await commit(store, bad, at: t0 + 20, key: "bad", checkpoint: Checkpoint(reader: "tail", position: "20"))
            }
            #expect(error?.code == .overflow)
            let everyone = Self.accounts + ["newco", "zz"]
            for tier in Tier.allCases {
                let q = Self.query(tier: tier, accounts: everyone, byAccount: true)
                #expect(try await store.aggregate(q) == Reference.rows(good, q), "only the good batch at \(tier)")
            }
            #expect(try await store.checkpoint(reader: "tail") == "10")
            #expect(try await store.stats().lastCommit == t0 + 10)
            // The failed batch stored neither its dedup keys nor its receipt: a retry counts.
            let retry = try await commit(store, [innocent], at: t0 + 30, key: "bad")
            #expect(retry == IngestReceipt(accepted: 1, duplicates: 0, replayed: false))
            let q = Self.query(tier: .day, accounts: ["newco"])
            #expect(try await store.aggregate(q) == [StoreRow(bucket: t0, groups: [], metrics: [1, 1, 1])])
        }
    }

    /// A batch that overflows a sum stored by an earlier batch fails whole (positive and negative).
    public func overflowAcrossBatches() async throws {
        let t0 = Self.t0
        let first = [Self.api(t0, "zz", metrics: [.max, 5, 5])]
        let low = [Self.api(t0 + 3 * 3_600, "zz", metrics: [.min, 0, 0])]
        try await withStore { store async throws in
            try await commit(store, first, at: t0)
            // "acme" sorts before "zz": its cell is written before the overflowing one.
            let up = await #expect(throws: StoreError.self) {
                try await commit(store, [Self.api(t0, "acme", metrics: [7, 7, 7]), Self.api(t0 + 5, "zz", metrics: [1, 0, 0])], at: t0 + 1)
            }
            #expect(up?.code == .overflow)
            try await commit(store, low, at: t0 + 2)
            let down = await #expect(throws: StoreError.self) {
                try await commit(store, [Self.api(t0, "acme", metrics: [7, 7, 7]), Self.api(t0 + 3 * 3_600 + 1, "zz", metrics: [-1, 0, 0])], at: t0 + 3)
            }
            #expect(down?.code == .overflow)
            for tier in Tier.allCases {
                let q = Self.query(tier: tier, accounts: ["acme", "zz"], byAccount: true)
                #expect(try await store.aggregate(q) == Reference.rows(first + low, q), "at \(tier)")
            }
            #expect(try await store.stats().lastCommit == t0 + 2)
        }
    }

    /// Two quarter hours that each fit but whose hour does not: the batch fails whole, at every tier.
    public func overflowInCoarserTier() async throws {
        let t0 = Self.t0
        let half = Int64.max / 2 + 1
        let good = [Self.api(t0, "beta", metrics: [3, 3, 3])]
        try await withStore { store async throws in
            try await commit(store, good, at: t0)
            let error = await #expect(throws: StoreError.self) {
                try await commit(store, [Self.api(t0, "beta", metrics: [1, 1, 1]), Self.api(t0, "zz", metrics: [half, 0, 0]), Self.api(t0 + 900, "zz", metrics: [half, 0, 0])], at: t0 + 1)
            }
            #expect(error?.code == .overflow)
            for tier in Tier.allCases {
                let q = Self.query(tier: tier, accounts: ["beta", "zz"], byAccount: true)
                #expect(try await store.aggregate(q) == Reference.rows(good, q), "at \(tier)")
            }
        }
    }

    /// A read whose sum does not fit Int64 throws `StoreError(.overflow)`, never a wrapped or rounded number.
    public func aggregateOverflowThrows() async throws {
        let t0 = Self.t0
        let half = Int64.max / 2 + 1
        let events = [Self.api(t0, "acme", metrics: [half, 1, 1]), Self.api(t0, "beta", metrics: [half, 1, 1])]
        try await withStore { store async throws in
            try await commit(store, events, at: t0)
            for tier in Tier.allCases {
                let error = await #expect(throws: StoreError.self, "at \(tier)") {
                    try await store.aggregate(Self.query(tier: tier, accounts: ["acme", "beta"]))
                }
                #expect(error?.code == .overflow)
                let q = Self.query(tier: tier, accounts: ["acme", "beta"], byAccount: true)
                #expect(try await store.aggregate(q) == Reference.rows(events, q), "per account at \(tier)")
            }
        }
    }

    // MARK: Deduplication

    /// The same source and id within the window count once, whatever the second copy says.
    public func dedupWithinWindow() async throws {
        let t0 = Self.t0
        let window: Int64 = 3_600
        let e = Self.api(t0, metrics: [1, 10, 100], id: "e1", source: "gw")
        try await withStore { store async throws in
            #expect(try await commit(store, [e], at: t0 + 100, window: window) == IngestReceipt(accepted: 1, duplicates: 0))
            let changed = Self.api(t0 + 7_200, "beta", metrics: [5, 5, 5], id: "e1", source: "gw")
            #expect(try await commit(store, [changed], at: t0 + 1_900, window: window) == IngestReceipt(accepted: 0, duplicates: 1))
            #expect(try await commit(store, [e], at: t0 + 100 + window - 1, window: window) == IngestReceipt(accepted: 0, duplicates: 1))
            for tier in Tier.allCases {
                let q = Self.query(tier: tier, byAccount: true)
                #expect(try await store.aggregate(q) == Reference.rows([e], q), "at \(tier)")
            }
        }
    }

    /// Copies of one event inside a single batch count once.
    public func dedupWithinOneBatch() async throws {
        let t0 = Self.t0
        let e1 = Self.api(t0, metrics: [1, 10, 100], id: "e1", source: "gw")
        let e2 = Self.api(t0 + 1_000, metrics: [1, 20, 200], id: "e2", source: "gw")
        try await withStore { store async throws in
            #expect(try await commit(store, [e1, e1, e2, e1, e2], at: t0) == IngestReceipt(accepted: 2, duplicates: 3))
            for tier in Tier.allCases {
                let q = Self.query(tier: tier)
                #expect(try await store.aggregate(q) == Reference.rows([e1, e2], q), "at \(tier)")
            }
        }
    }

    /// Once the window has passed (measured with `receivedAt`) the same event counts again, and
    /// the window starts over from that commit.
    public func dedupAfterWindow() async throws {
        let t0 = Self.t0
        let window: Int64 = 600
        let e = Self.api(t0, metrics: [1, 10, 100], id: "e1", source: "gw")
        try await withStore { store async throws in
            #expect(try await commit(store, [e], at: t0, window: window).accepted == 1)
            #expect(try await commit(store, [e], at: t0 + window - 1, window: window).duplicates == 1)
            #expect(try await commit(store, [e], at: t0 + window, window: window) == IngestReceipt(accepted: 1, duplicates: 0))
            #expect(try await commit(store, [e], at: t0 + window + 1, window: window).duplicates == 1)
            #expect(try await commit(store, [e], at: t0 + 10 * window, window: window).accepted == 1)
            for tier in Tier.allCases {
                #expect(try await store.aggregate(Self.query(tier: tier)) == Reference.rows([e, e, e], Self.query(tier: tier)), "at \(tier)")
            }
        }
    }

    /// The same id from different sources (or no source) counts for each; events without an id
    /// are never deduplicated.
    public func dedupPerSource() async throws {
        let t0 = Self.t0
        let batch = [
            Self.api(t0, id: "42", source: "a"), Self.api(t0, id: "42", source: "b"), Self.api(t0, id: "42"),
            Self.api(t0), Self.api(t0),
        ]
        try await withStore { store async throws in
            #expect(try await commit(store, batch, at: t0) == IngestReceipt(accepted: 5, duplicates: 0))
            #expect(try await commit(store, batch, at: t0 + 10) == IngestReceipt(accepted: 2, duplicates: 3))
            let q = Self.query(tier: .hour)
            #expect(try await store.aggregate(q) == Reference.rows(batch + batch.filter { $0.id == nil }, q))
        }
    }

    // MARK: Idempotency and checkpoints

    /// A second commit with a known idempotency key returns the first receipt with `replayed`
    /// set and counts nothing, even when its events differ or both arrive at once.
    public func idempotencyReplay() async throws {
        let t0 = Self.t0
        let first = [Self.api(t0, id: "a1", source: "s"), Self.api(t0, id: "a1", source: "s"), Self.api(t0 + 60)]
        try await withStore { store async throws in
            let r1 = try await commit(store, first, at: t0, key: "req-1")
            #expect(r1 == IngestReceipt(accepted: 2, duplicates: 1, replayed: false))
            let r2 = try await commit(store, [Self.api(t0, "beta", metrics: [5, 5, 5])], at: t0 + 5, key: "req-1")
            #expect(r2 == IngestReceipt(accepted: 2, duplicates: 1, replayed: true))
            var counted = [first[0], first[2]]
            let q = Self.query(tier: .quarterHour, byAccount: true)
            #expect(try await store.aggregate(q) == Reference.rows(counted, q))

            let other = Self.api(t0 + 120)
            #expect(try await commit(store, [other], at: t0 + 6, key: "req-2") == IngestReceipt(accepted: 1, duplicates: 0))
            counted.append(other)

            let twice = Self.api(t0 + 180, metrics: [1, 1, 1])
            async let a = commit(store, [twice], at: t0 + 7, key: "req-3")
            async let b = commit(store, [twice], at: t0 + 7, key: "req-3")
            let receipts = try await [a, b]
            #expect(receipts.map(\.accepted) == [1, 1])
            #expect(receipts.filter(\.replayed).count == 1, "exactly one of two simultaneous commits is the replay")
            counted.append(twice)
            for tier in Tier.allCases {
                let q = Self.query(tier: tier, byAccount: true)
                #expect(try await store.aggregate(q) == Reference.rows(counted, q), "at \(tier)")
            }
        }
    }

    /// Checkpoints are committed with their batch (also an empty one) and read back per reader.
    public func checkpoints() async throws {
        let t0 = Self.t0
        try await withStore { store async throws in
            #expect(try await store.checkpoint(reader: "tail-a") == nil)
            try await commit(store, [Self.api(t0)], at: t0, checkpoint: Checkpoint(reader: "tail-a", position: "offset:100"))
            #expect(try await store.checkpoint(reader: "tail-a") == "offset:100")
            let empty = try await commit(store, [], at: t0 + 1, checkpoint: Checkpoint(reader: "tail-a", position: "offset:250"))
            #expect(empty == IngestReceipt(accepted: 0, duplicates: 0))
            #expect(try await store.checkpoint(reader: "tail-a") == "offset:250")
            let odd = "inode:42 offset:1'000 ü \"q\""
            try await commit(store, [Self.api(t0 + 1)], at: t0 + 2, checkpoint: Checkpoint(reader: "tail-b", position: odd))
            try await commit(store, [Self.api(t0 + 2)], at: t0 + 3)
            #expect(try await store.checkpoint(reader: "tail-a") == "offset:250")
            #expect(try await store.checkpoint(reader: "tail-b") == odd)
            #expect(try await store.checkpoint(reader: "tail-c") == nil)
            #expect(try await store.aggregate(Self.query(tier: .day)).map { $0.metrics[0] } == [3])
        }
    }

    // MARK: Volume

    /// 20 tasks × 50 batches × 10 events committed at once all land exactly once.
    public func concurrentCommits() async throws {
        let t0 = Self.t0
        let tasks = 20, batches = 50, perBatch = 10
        @Sendable func batch(_ task: Int, _ b: Int) -> [UsageEvent] {
            (0..<perBatch).map { j in
                Self.api(
                    t0 + Int64((task * 7 + b * 13 + j * 17) % 2_880) * 60, "acct-\(task % 4)",
                    region: Self.regions[(b + j) % Self.regions.count], metrics: [1, Int64(task * 1_000 + b), Self.beyondDouble / 100_000 + Int64(j)],
                    id: "t\(task)-b\(b)-e\(j)", source: "load")
            }
        }
        try await withStore { store async throws in
            let receipts = try await withThrowingTaskGroup(of: [IngestReceipt].self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var out: [IngestReceipt] = []
                        for b in 0..<batches {
                            out.append(try await commit(store, batch(task, b), at: t0 + Int64(b)))
                        }
                        return out
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            #expect(receipts.count == tasks * batches)
            #expect(receipts.reduce(0) { $0 + $1.accepted } == tasks * batches * perBatch)
            #expect(receipts.allSatisfy { $0.duplicates == 0 && !$0.replayed })
            let all = (0..<tasks).flatMap { t in (0..<batches).flatMap { batch(t, $0) } }
            let accounts = (0..<4).map { "acct-\($0)" }
            for tier in Tier.allCases {
                let q = Self.query(tier: tier, accounts: accounts, byAccount: true, groupBy: [0])
                #expect(try await store.aggregate(q) == Reference.rows(all, q), "at \(tier)")
            }
            let total = Reference.totals(try await store.aggregate(Self.query(tier: .day, accounts: accounts)))
            #expect(total.first == Int64(tasks * batches * perBatch))
        }
    }

    /// One batch of 100,000 events is exact; sent again, its events with ids are all duplicates.
    public func largeBatch() async throws {
        let t0 = Self.t0
        let count = 100_000
        var rng = SeededRandom(seed: 99)
        var events: [UsageEvent] = []
        events.reserveCapacity(count)
        for i in 0..<count {
            let time: Int64 = t0 + Int64(rng.next() % UInt64(Self.day))
            let region = Self.regions[Int(rng.next() % 4)]
            let method = Self.methods[Int(rng.next() % 3)]
            let bytes = Int64(rng.next() % 10_000_000_000)
            let cost: Int64 = i % 1_000 == 0 ? Self.beyondDouble : Int64(i)
            let id: String? = i % 2 == 0 ? "ev-\(i)" : nil
            events.append(Self.api(time, "acct-\(i % 5)", region: region, method: method, metrics: [1, bytes, cost], id: id, source: "bulk"))
        }
        let accounts = (0..<5).map { "acct-\($0)" }
        try await withStore { store async throws in
            #expect(try await commit(store, events, at: t0) == IngestReceipt(accepted: count, duplicates: 0))
            for tier in Tier.allCases {
                let q = Self.query(tier: tier, accounts: accounts, byAccount: true, groupBy: [0, 1])
                #expect(try await store.aggregate(q) == Reference.rows(events, q), "at \(tier)")
            }
            #expect(try await commit(store, events, at: t0 + 60) == IngestReceipt(accepted: count / 2, duplicates: count / 2))
            let counted = events + events.filter { $0.id == nil }
            for tier in Tier.allCases {
                let q = Self.query(tier: tier, accounts: accounts, groupBy: [1])
                #expect(try await store.aggregate(q) == Reference.rows(counted, q), "after the resend at \(tier)")
            }
        }
    }

    // MARK: Stats and read freshness

    /// `stats().lastCommit` is 0 before any commit and then the `receivedAt` of the latest one.
    public func lastCommitMoves() async throws {
        let t0 = Self.t0
        try await withStore { store async throws in
            let fresh = try await store.stats()
            #expect(fresh.lastCommit == 0)
            #expect(fresh.bytesOnDisk >= 0)
            try await commit(store, [Self.api(t0)], at: t0 + 5)
            #expect(try await store.stats().lastCommit == t0 + 5)
            try await commit(store, [Self.api(t0)], at: t0 + 500)
            #expect(try await store.stats().lastCommit == t0 + 500)
            try await commit(store, [], at: t0 + 900, checkpoint: Checkpoint(reader: "r", position: "1"))
            #expect(try await store.stats().lastCommit == t0 + 900)
        }
    }

    /// Every read sees every commit acknowledged before it, whatever reads came before it.
    public func readsSeeLatestCommit() async throws {
        let t0 = Self.t0
        enum Read: CaseIterable { case checkpoint, stats, aggregate }
        try await withStore { store async throws in
            var sum: Int64 = 0
            for i in 1...6 {
                let value = Int64(i)
                try await commit(store, [Self.api(t0, metrics: [value, 0, 0])], at: t0 + value, checkpoint: Checkpoint(reader: "tail", position: "p\(i)"))
                sum += value
                let order = Array(Read.allCases[(i % 3)...] + Read.allCases[..<(i % 3)])
                for read in order {
                    switch read {
                    case .checkpoint: #expect(try await store.checkpoint(reader: "tail") == "p\(i)", "checkpoint after commit \(i)")
                    case .stats: #expect(try await store.stats().lastCommit == t0 + value, "lastCommit after commit \(i)")
                    case .aggregate:
                        #expect(try await store.aggregate(Self.query(tier: .day)).first?.metrics[0] == sum, "sum after commit \(i)")
                    }
                }
            }
        }
    }
}
