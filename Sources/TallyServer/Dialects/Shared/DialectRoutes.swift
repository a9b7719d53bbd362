import Hummingbird

extension RouterGroup where Context == TallyContext {
    /// Answers every other path below `prefix` (any method) with a 404 thrown inside the group, so
    /// its error middleware renders it in the dialect's own envelope (an unmatched path never
    /// reaches a group's middleware otherwise).
    @discardableResult
    func notFoundBelow(_ prefix: String) -> Self {
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] {
            on("\(prefix)/**", method: method) { _, _ -> Response in throw HTTPError(.notFound) }
        }
        return self
    }
}
