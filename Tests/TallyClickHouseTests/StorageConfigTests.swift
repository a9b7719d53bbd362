import TallyCore
import Testing

/// `storage:` keys of ClickHouse: what is required with what, and the URLs.
@Suite("ClickHouse storage configuration")
struct StorageConfigTests {
    private func problems(_ storage: [(String, ConfigNode)]) -> [String] {
        do {
            _ = try TallyConfig.load(.map([("storage", .map(storage))]), environment: [:])
            return []
        } catch {
            return error.problems.map { "\($0.path): \($0.message)" }
        }
    }

    @Test func clusterNeedsShardsAndShardsNeedCluster() {
        #expect(problems([("kind", .scalar("clickhouse")), ("url", .scalar("http://a:8123")), ("cluster", .scalar("c"))])
            == ["storage.shards: required when storage.cluster is set: every shard's HTTP URL, in the cluster's order"])
        #expect(problems([("kind", .scalar("clickhouse")), ("url", .scalar("http://a:8123")), ("shards", .list([.scalar("http://a:8123")]))])
            == ["storage.cluster: required when storage.shards is set"])
    }

    @Test func urlsMustBeHTTP() {
        let found = problems([
            ("kind", .scalar("clickhouse")), ("url", .scalar("127.0.0.1:8123")), ("cluster", .scalar("c")),
            ("shards", .list([.scalar("http://a:8123"), .scalar("tcp://b:9000")])),
        ])
        #expect(found == [
            "storage.url: expected an http:// or https:// URL, got \"127.0.0.1:8123\"",
            "storage.shards[1]: expected an http:// or https:// URL, got \"tcp://b:9000\"",
        ])
    }

    @Test func aClusterLoads() throws {
        let root = ConfigNode.map([("storage", .map([
            ("kind", .scalar("clickhouse")), ("url", .scalar("http://a:8123")), ("cluster", .scalar("tally")),
            ("shards", .list([.scalar("http://a:8123"), .scalar("https://b:8443")])),
        ]))])
        let c = try TallyConfig.load(root, environment: [:])
        #expect(c.storage.shards == ["http://a:8123", "https://b:8443"])
        #expect(c.storage.cluster == "tally")
        #expect(problems([("kind", .scalar("clickhouse"))]) == ["storage.url: required when storage.kind is clickhouse"])
    }
}
