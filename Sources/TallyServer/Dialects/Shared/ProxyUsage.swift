import HTTPTypes
import TallyCore

/// What the proxy vendors' dialects (IPRoyal, Proxy-Seller, GoProxies) report on: one product of
/// the catalog and its dimension and metric names.
enum ProxyUsage {
    static let bytes = "bytes"
    static let requests = "requests"
    static let hostname = "hostname"
    static let port = "port"
    static let country = "country"
    static let status = "status"

    /// The product named `residential`, else the first product with a `bytes` metric (config order).
    /// With none, queries name `residential` and the engine refuses them as invalid.
    static func product(_ catalog: ProductCatalog) -> String {
        if catalog["residential"] != nil { return "residential" }
        return catalog.products.first { $0.metricIndex(bytes) != nil }?.name ?? "residential"
    }

    /// A query over an account's whole subtree (the account itself and every descendant).
    static func query(subtreeOf account: String, runtime: TallyRuntime, from: Int64, to: Int64) -> ReportQuery {
        ReportQuery(accounts: runtime.directory.subtree(of: account), product: product(runtime.config.products), from: from, to: to)
    }
}

extension RateDecision {
    /// The headers of a refusal: `Retry-After` (seconds) and the usual `X-RateLimit-*` trio.
    var refusalHeaders: HTTPFields {
        var h = HTTPFields()
        h[.retryAfter] = String(retryAfter)
        h[HTTPField.Name("X-RateLimit-Limit")!] = String(limit)
        h[HTTPField.Name("X-RateLimit-Remaining")!] = String(remaining)
        h[HTTPField.Name("X-RateLimit-Reset")!] = String(resetAt)
        return h
    }
}
