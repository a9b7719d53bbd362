/// How a metric is summed: whole numbers, or decimals with a fixed number of places.
public enum MetricKind: Sendable, Equatable {
    case integer
    case decimal(scale: Int)

    /// Decimal places of the stored unit (0 for integers).
    public var scale: Int {
        if case .decimal(let s) = self { return s }
        return 0
    }
}

public struct MetricSpec: Sendable, Equatable {
    public var name: String
    public var kind: MetricKind
    public init(name: String, kind: MetricKind) {
        self.name = name
        self.kind = kind
    }
}

/// A metered product: the dimensions that describe its usage and the metrics summed.
public struct ProductSpec: Sendable, Equatable {
    public var name: String
    public var dimensions: [String]
    public var metrics: [MetricSpec]

    public init(name: String, dimensions: [String], metrics: [MetricSpec]) {
        self.name = name
        self.dimensions = dimensions
        self.metrics = metrics
    }

    public func dimensionIndex(_ name: String) -> Int? { dimensions.firstIndex(of: name) }
    public func metricIndex(_ name: String) -> Int? { metrics.firstIndex { $0.name == name } }

    /// Limits that keep storage layouts fixed-width.
    public static let maxDimensions = 8
    public static let maxMetrics = 8
}

/// The products of a configuration, in the order they were declared.
public struct ProductCatalog: Sendable, Equatable {
    public var products: [ProductSpec]

    public init(_ products: [ProductSpec]) { self.products = products }

    public subscript(name: String) -> ProductSpec? { products.first { $0.name == name } }
    public var names: [String] { products.map(\.name) }
}
