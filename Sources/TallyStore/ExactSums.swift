extension Dictionary where Value == [Int64] {
    /// Adds `values` element-wise into the sums kept at `key` (storing them when the key is new);
    /// throws instead of wrapping when a sum leaves the Int64 range.
    public mutating func addExactly(_ values: [Int64], at key: Key) throws(StoreError) {
        guard var sums = self[key] else {
            self[key] = values
            return
        }
        for i in 0..<Swift.min(sums.count, values.count) {
            let (v, o) = sums[i].addingReportingOverflow(values[i])
            if o { throw StoreError(.overflow, "a metric sum exceeds the 64-bit range") }
            sums[i] = v
        }
        self[key] = sums
    }
}
