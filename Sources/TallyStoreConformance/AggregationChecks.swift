import TallyCore
import TallyStore
import Testing

extension UsageStoreConformance {
    /// Ungrouped sums equal the exact sums of the events at every tier, for each product, and
    /// every tier agrees on the totals (2^53 + 1 values catch a sum routed through `Double`).
    public func sumsAtEveryTier() async throws {
        let events = Self.sampleEvents(count: 600, seed: 1)
        try await withStore { store async throws in
            for (i, chunk) in events.chunks(of: 150).enumerated() {
                let r = try await commit(store, chunk, at: Self.t0 + Int64(i))
                #expect(r == IngestReceipt(accepted: chunk.count, duplicates: 0))
            }
            for product in ["api", "storage"] {
                let exact = events.filter { $0.product == product }.reduce(into: [Int64]()) { acc, e in
                    if acc.isEmpty { acc = Array(repeating: 0, count: e.metrics.count) }
                    for i in e.metrics.indices { acc[i] += e.metrics[i] }
                }
                for tier in Tier.allCases {
                    let q = Self.query(product, tier: tier)
                    let expected = Reference.rows(events, q)
                    let rows = try await store.aggregate(q)
                    #expect(!rows.isEmpty, "\(product) at \(tier)")
                    #expect(rows == expected, "\(product) at \(tier)")
                    #expect(Reference.totals(rows) == exact, "\(product) totals at \(tier)")
                }
            }
        }
    }

    /// Grouping by account gives one row per bucket and account, at every tier.
    public func groupByAccount() async throws {
        let events = Self.sampleEvents(count: 500, seed: 2)
        try await withStore { store async throws in
            try await commit(store, events, at: Self.t0)
            for product in ["api", "storage"] {
                for tier in Tier.allCases {
                    let q = Self.query(product, tier: tier, byAccount: true)
                    let rows = try await store.aggregate(q)
                    #expect(rows == Reference.rows(events, q), "\(product) at \(tier)")
                    #expect(rows.allSatisfy { $0.account != nil }, "\(product) at \(tier)")
                    #expect(Set(rows.compactMap(\.account)) == Set(Self.accounts), "\(product) at \(tier)")
                }
            }
        }
    }

    /// Grouping by dimensions, in the order asked and with or without the account, at every tier.
    public func groupByDimensions() async throws {
        let events = Self.sampleEvents(count: 500, seed: 3)
        try await withStore { store async throws in
            try await commit(store, events, at: Self.t0)
            for tier in Tier.allCases {
                for byAccount in [false, true] {
                    for groupBy in [[0], [1], [0, 1], [1, 0]] {
                        let q = Self.query(tier: tier, byAccount: byAccount, groupBy: groupBy)
                        let rows = try await store.aggregate(q)
                        #expect(rows == Reference.rows(events, q), "api by \(groupBy) account \(byAccount) at \(tier)")
                        #expect(rows.allSatisfy { $0.groups.count == groupBy.count })
                    }
                    let q = Self.query("storage", tier: tier, byAccount: byAccount, groupBy: [0])
                    #expect(try await store.aggregate(q) == Reference.rows(events, q), "storage by class account \(byAccount) at \(tier)")
                }
            }
        }
    }

    /// Filters keep only the listed dimension values; several filters all apply; a filter that
    /// matches nothing (or lists no value) returns no rows.
    public func filters() async throws {
        let events = Self.sampleEvents(count: 500, seed: 4)
        let cases: [[Int: [String]]] = [
            [0: ["eu"]],
            [0: ["eu", "zürich"]],
            [1: ["x'); --"]],
            [0: ["us"], 1: ["PUT"]],
            [1: ["GET", "PUT"], 0: ["ap-south", "eu", "us"]],
        ]
        try await withStore { store async throws in
            try await commit(store, events, at: Self.t0)
            for tier in Tier.allCases {
                for f in cases {
                    for (byAccount, groupBy) in [(false, [Int]()), (true, [0]), (false, [1, 0])] {
                        let q = Self.query(tier: tier, byAccount: byAccount, groupBy: groupBy, filters: f)
                        let expected = Reference.rows(events, q)
                        #expect(!expected.isEmpty)
                        #expect(try await store.aggregate(q) == expected, "filters \(f) by \(groupBy) account \(byAccount) at \(tier)")
                    }
                }
                for f in [[0: ["nowhere"]], [0: []], [0: ["eu"], 1: ["DELETE"]], [0: ["EU"]]] as [[Int: [String]]] {
                    #expect(try await store.aggregate(Self.query(tier: tier, filters: f)) == [], "filters \(f) at \(tier)")
                }
            }
        }
    }

    /// Only the listed accounts are summed; an account listed twice counts once.
    public func accountSubset() async throws {
        let events = Self.sampleEvents(count: 400, seed: 5)
        try await withStore { store async throws in
            try await commit(store, events, at: Self.t0)
            for tier in Tier.allCases {
                for accounts in [["beta"], ["acme", "o'neil"], ["beta", "beta"]] {
                    for byAccount in [false, true] {
                        let q = Self.query(tier: tier, accounts: accounts, byAccount: byAccount)
                        #expect(try await store.aggregate(q) == Reference.rows(events, q), "accounts \(accounts) grouped \(byAccount) at \(tier)")
                    }
                }
            }
        }
    }

    /// Buckets are UTC-aligned half-open intervals: an event on a boundary starts the next
    /// bucket, times before 1970 floor down, and a query range keeps buckets starting in `[from, to)`.
    public func bucketBoundaries() async throws {
        let t0 = Self.t0
        let times: [Int64] = [t0 - 1, t0, t0 + 899, t0 + 900, t0 + 3_599, t0 + 3_600, t0 + 86_399, t0 + 86_400, -1, 0]
        // Each event's bytes are one bit, so a sum names the events it holds.
        let events = times.enumerated().map { i, t in Self.api(t, metrics: [1, 1 << Int64(i), 0]) }
        func bits(_ i: Int...) -> Int64 { i.reduce(0) { $0 | (1 << Int64($1)) } }
        let expected: [Tier: [(Int64, Int64)]] = [
            .quarterHour: [(-900, bits(8)), (0, bits(9)), (t0 - 900, bits(0)), (t0, bits(1, 2)), (t0 + 900, bits(3)), (t0 + 2_700, bits(4)),
                           (t0 + 3_600, bits(5)), (t0 + 85_500, bits(6)), (t0 + 86_400, bits(7))],
            .hour: [(-3_600, bits(8)), (0, bits(9)), (t0 - 3_600, bits(0)), (t0, bits(1, 2, 3, 4)), (t0 + 3_600, bits(5)), (t0 + 82_800, bits(6)),
                    (t0 + 86_400, bits(7))],
            .day: [(-86_400, bits(8)), (0, bits(9)), (t0 - 86_400, bits(0)), (t0, bits(1, 2, 3, 4, 5, 6)), (t0 + 86_400, bits(7))],
        ]
        try await withStore { store async throws in
            try await commit(store, events, at: t0)
            for tier in Tier.allCases {
                let rows = try await store.aggregate(Self.query(tier: tier, accounts: ["acme"], from: -Self.day, to: t0 + 2 * Self.day))
                #expect(rows.map(\.bucket) == expected[tier]!.map(\.0), "buckets at \(tier)")
                #expect(rows.map { $0.metrics[1] } == expected[tier]!.map(\.1), "bucket contents at \(tier)")
                #expect(rows.allSatisfy { $0.metrics[0] == Int64(popcount($0.metrics[1])) }, "requests at \(tier)")
            }
            let quarter = try await store.aggregate(Self.query(tier: .quarterHour, accounts: ["acme"], from: t0, to: t0 + 900))
            #expect(quarter.map(\.bucket) == [t0])
            let hours = try await store.aggregate(Self.query(tier: .hour, accounts: ["acme"], from: t0 - 3_600, to: t0 + 3_600))
            #expect(hours.map(\.bucket) == [t0 - 3_600, t0])
            let noEpoch = try await store.aggregate(Self.query(tier: .day, accounts: ["acme"], from: 0, to: t0))
            #expect(noEpoch.map(\.bucket) == [0, t0 - 86_400])
        }
    }

    /// Rows come ordered by bucket, then account, then group values (plain code-point order),
    /// whatever order the events arrived in, with one row per group.
    public func rowOrder() async throws {
        let t0 = Self.t0
        let regions = ["z", "é", "ab", "a", "B", "b"]
        var events: [UsageEvent] = []
        for hour in (0..<3).reversed() {
            for account in ["zeta", "alpha", "Mid", "mid"] {
                for (i, region) in regions.enumerated() {
                    events.append(Self.api(t0 + Int64(hour) * 3_600 + Int64(i), account, region: region, method: i % 2 == 0 ? "PUT" : "GET"))
                }
            }
        }
        try await withStore { store async throws in
            try await commit(store, events, at: t0)
            for tier in Tier.allCases {
                for (byAccount, groupBy) in [(true, [0, 1]), (true, [1]), (false, [0]), (false, [1, 0]), (true, [])] as [(Bool, [Int])] {
                    let q = Self.query(tier: tier, accounts: ["zeta", "alpha", "Mid", "mid"], byAccount: byAccount, groupBy: groupBy)
                    let rows = try await store.aggregate(q)
                    #expect(rows == Reference.rows(events, q), "by \(groupBy) account \(byAccount) at \(tier)")
                    let ordered = zip(rows, rows.dropFirst()).allSatisfy { Reference.inOrder($0, $1) }
                    #expect(ordered, "rows strictly ordered, by \(groupBy) account \(byAccount) at \(tier)")
                }
            }
        }
    }

    /// Each product is summed on its own, with its own metrics.
    public func productsAreSeparate() async throws {
        let t0 = Self.t0
        let events = [
            Self.api(t0, metrics: [1, 2, 3]),
            UsageEvent(time: t0, account: "acme", product: "storage", dimensions: ["hot"], metrics: [40]),
            UsageEvent(time: t0 + 5, account: "acme", product: "storage", dimensions: ["hot"], metrics: [2]),
        ]
        try await withStore { store async throws in
            try await commit(store, events, at: t0)
            for tier in Tier.allCases {
                #expect(try await store.aggregate(Self.query("api", tier: tier)) == [StoreRow(bucket: t0, groups: [], metrics: [1, 2, 3])])
                #expect(try await store.aggregate(Self.query("storage", tier: tier)) == [StoreRow(bucket: t0, groups: [], metrics: [42])])
            }
        }
    }

    /// Accounts, dimension values, event ids and idempotency keys are exact strings: spellings
    /// that differ only in Unicode normalization (NFC "café" and NFD "cafe\u{301}"), case or a
    /// trailing space stay apart, rows sort by scalar values (NFD "zu\u{308}rich" before "zv"),
    /// and the answer does not depend on the order the spellings arrived in.
    public func identifiersAreExact() async throws {
        let t0 = Self.t0
        let nfc = "caf\u{E9}", nfd = "cafe\u{301}"
        let zNFC = "z\u{FC}rich", zNFD = "zu\u{308}rich"
        let events = [
            Self.api(t0, nfc, region: zNFC, metrics: [1, 0, 0], id: nfc, source: "s"),
            Self.api(t0, nfd, region: zNFD, metrics: [10, 0, 0], id: nfd, source: "s"),
            Self.api(t0, nfc, region: zNFD, metrics: [100, 0, 0]),
            Self.api(t0, nfc, region: "zv", metrics: [1_000, 0, 0]),
            Self.api(t0, "Caf\u{E9}", region: zNFC, metrics: [10_000, 0, 0]),
            Self.api(t0, nfc + " ", region: zNFC, metrics: [100_000, 0, 0]),
        ]
        let accounts = [nfc, nfd, "Caf\u{E9}", nfc + " "]
        // One batch per event (each spelling meets the other already stored, in both orders),
        // then all in one batch (the spellings meet inside the batch).
        let plans: [(String, [[UsageEvent]])] = [
            ("one batch each", events.map { [$0] }), ("one batch each, reversed", events.reversed().map { [$0] }), ("a single batch", [events]),
        ]
        for (plan, batches) in plans {
            try await withStore { store async throws in
                for (i, batch) in batches.enumerated() {
                    let key = batch.count == 1 ? batch[0].id : nil
                    let r = try await commit(store, batch, at: t0 + Int64(i), key: key)
                    #expect(r == IngestReceipt(accepted: batch.count, duplicates: 0), "\(plan): \(batch.map { Scalars($0.account) }) each counted, none a duplicate or replay")
                }
                for tier in Tier.allCases {
                    var queries = accounts.map { (Self.query(tier: tier, accounts: [$0]), "account \(Scalars($0))") }
                    queries += [[], [0]].map { (Self.query(tier: tier, accounts: accounts, byAccount: true, groupBy: $0), "by account and \($0)") }
                    queries.append((Self.query(tier: tier, accounts: [nfc], groupBy: [0]), "regions of \(Scalars(nfc))"))
                    queries.append((Self.query(tier: tier, accounts: accounts, filters: [0: [zNFD]]), "filter on \(Scalars(zNFD))"))
                    for (q, what) in queries {
                        let rows = Reference.exact(try await store.aggregate(q))
                        let expected = Reference.exact(Reference.rows(events, q))
                        #expect(rows == expected, "\(plan): \(what) at \(tier)")
                    }
                }
            }
        }
    }

    /// Accounts a store never saw match nothing (no prefix matching either); known ones still answer.
    public func unknownAccounts() async throws {
        let events = Self.sampleEvents(count: 200, seed: 6)
        try await withStore { store async throws in
            try await commit(store, events, at: Self.t0)
            for tier in Tier.allCases {
                for accounts in [["nobody"], [], ["acm"], ["ACME"], ["acme%"]] {
                    for byAccount in [false, true] {
                        #expect(try await store.aggregate(Self.query(tier: tier, accounts: accounts, byAccount: byAccount)) == [], "\(accounts) at \(tier)")
                    }
                }
                for byAccount in [false, true] {
                    let q = Self.query(tier: tier, accounts: ["nobody", "acme"], byAccount: byAccount)
                    let rows = try await store.aggregate(q)
                    #expect(!rows.isEmpty)
                    #expect(rows == Reference.rows(events, Self.query(tier: tier, accounts: ["acme"], byAccount: byAccount)))
                }
            }
        }
    }

    /// Empty and inverted ranges, and ranges without data, return no rows (and do not throw).
    public func emptyRange() async throws {
        let events = Self.sampleEvents(count: 200, seed: 7)
        let t0 = Self.t0
        try await withStore { store async throws in
            #expect(try await store.aggregate(Self.query(tier: .day)) == [], "an empty store")
            try await commit(store, events, at: t0)
            for tier in Tier.allCases {
                for (from, to) in [(t0, t0), (t0 + Self.day, t0), (t0 + 10 * Self.day, t0 + 11 * Self.day), (t0 - 10 * Self.day, t0 - 9 * Self.day)] {
                    for groupBy in [[], [0, 1]] {
                        #expect(try await store.aggregate(Self.query(tier: tier, from: from, to: to, byAccount: true, groupBy: groupBy)) == [], "[\(from), \(to)) at \(tier)")
                    }
                }
            }
        }
    }
}

private func popcount(_ v: Int64) -> Int { v.nonzeroBitCount }

extension Array {
    /// Consecutive slices of at most `n` elements.
    func chunks(of n: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: n).map { self[$0..<Swift.min($0 + n, count)] }
    }
}

extension UsageStoreConformance {
    /// Commits `events` received at `at`, returning the receipt.
    @discardableResult
    func commit(
        _ store: any UsageStore, _ events: some Collection<UsageEvent>, at: Int64, key: String? = nil,
        checkpoint: Checkpoint? = nil, window: Int64 = Self.day
    ) async throws -> IngestReceipt {
        try await store.commit(IngestBatch(events: Array(events), idempotencyKey: key, checkpoint: checkpoint, receivedAt: at), dedupWindow: window)
    }
}
