/// A meter of the OpenMeter dialect: a slug naming one metric of one product.
public struct MeterSpec: Sendable, Equatable {
    public var slug: String
    public var product: String
    public var metric: String

    public init(slug: String, product: String, metric: String) {
        self.slug = slug
        self.product = product
        self.metric = metric
    }

    /// Every metric of every product as `<product>_<metric>`, in catalog order (the default).
    public static func defaults(for catalog: ProductCatalog) -> [MeterSpec] {
        catalog.products.flatMap { p in p.metrics.map { MeterSpec(slug: p.name + "_" + $0.name, product: p.name, metric: $0.name) } }
    }
}

extension TallyConfig {
    /// `meters`: slug → `{ product, metric }`. When the key is present, exactly the listed
    /// meters exist; without it every metric is a meter named `<product>_<metric>`.
    static func loadMeters(_ node: ConfigNode?, _ r: ConfigReader, products: ProductCatalog) -> [MeterSpec] {
        guard let node else { return MeterSpec.defaults(for: products) }
        var meters: [MeterSpec] = []
        for (slug, spec) in r.map(node, "meters") {
            let p = "meters.\(slug)"
            // OpenMeter slugs are letters, digits and underscores.
            if slug.isEmpty || slug.utf8.count > 64 || !slug.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }) {
                r.fail(p, "a meter slug is letters, digits and _ only")
            }
            r.checkKeys(spec, p, known: ["product", "metric"])
            let product = r.string(spec["product"], "\(p).product")
            let metric = r.string(spec["metric"], "\(p).metric")
            if product == nil { r.fail("\(p).product", "required") }
            if metric == nil { r.fail("\(p).metric", "required") }
            guard let product, let metric else { continue }
            guard let ps = products[product] else {
                r.fail("\(p).product", "unknown product \"\(product)\"")
                continue
            }
            if ps.metricIndex(metric) == nil {
                r.fail("\(p).metric", "unknown metric \"\(metric)\" of \(product) (expected: \(ps.metrics.map(\.name).joined(separator: ", ")))")
                continue
            }
            meters.append(MeterSpec(slug: slug, product: product, metric: metric))
        }
        return meters
    }
}
