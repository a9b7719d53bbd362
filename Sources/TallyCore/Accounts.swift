/// One node of the account tree (reseller → customer → sub-user, any depth).
public struct Account: Sendable, Equatable {
    public var id: String
    public var name: String?
    public var hash: String?
    public var username: String?
    public var packageKey: String?
    public var tokens: [String]
    public var apiKeys: [String]
    public var password: String?
    public var allowedIPs: [String]
    public var parentID: String?
    public var disabled: Bool

    public init(id: String, name: String? = nil, hash: String? = nil, username: String? = nil, packageKey: String? = nil,
                tokens: [String] = [], apiKeys: [String] = [], password: String? = nil, allowedIPs: [String] = [],
                parentID: String? = nil, disabled: Bool = false) {
        self.id = id
        self.name = name
        self.hash = hash
        self.username = username
        self.packageKey = packageKey
        self.tokens = tokens
        self.apiKeys = apiKeys
        self.password = password
        self.allowedIPs = allowedIPs
        self.parentID = parentID
        self.disabled = disabled
    }
}

/// The account tree with lookups by every identifier kind and subtree queries.
/// Which of an account's identifiers a face names it by.
public enum IdentifierKind: Sendable, CaseIterable {
    /// `id`, `username` or `hash` (the native API and ingest).
    case any, id, hash, username, packageKey
}

public struct AccountDirectory: Sendable {
    /// Accounts in depth-first configuration order.
    public let accounts: [Account]
    private let byID: [String: Int]
    private let byIdentifier: [String: Int]
    private let childrenOf: [String: [String]]

    public init(_ accounts: [Account]) {
        self.accounts = accounts
        var byID: [String: Int] = [:]
        var byIdentifier: [String: Int] = [:]
        var childrenOf: [String: [String]] = [:]
        for (i, a) in accounts.enumerated() {
            byID[a.id] = i
            for ident in [a.id, a.username, a.hash].compactMap({ $0 }) where byIdentifier[ident] == nil {
                byIdentifier[ident] = i
            }
            if let p = a.parentID { childrenOf[p, default: []].append(a.id) }
        }
        self.byID = byID
        self.byIdentifier = byIdentifier
        self.childrenOf = childrenOf
    }

    public subscript(id: String) -> Account? { byID[id].map { accounts[$0] } }

    /// The account whose `id`, `username` or `hash` is `identifier`.
    public func resolve(_ identifier: String) -> Account? { byIdentifier[identifier].map { accounts[$0] } }

    /// The account that holds `identifier` as the given kind of identifier.
    public func resolve(_ identifier: String, as kind: IdentifierKind) -> Account? {
        switch kind {
        case .any: resolve(identifier)
        case .id: self[identifier]
        case .hash: account(hash: identifier)
        case .username: account(username: identifier)
        case .packageKey: account(packageKey: identifier)
        }
    }

    public func account(hash: String) -> Account? { accounts.first { $0.hash == hash } }
    public func account(packageKey: String) -> Account? { accounts.first { $0.packageKey == packageKey } }
    public func account(username: String) -> Account? { accounts.first { $0.username == username } }

    public func children(of id: String) -> [Account] { (childrenOf[id] ?? []).compactMap { self[$0] } }

    /// `id` and every descendant, depth first.
    public func subtree(of id: String) -> [String] {
        guard byID[id] != nil else { return [] }
        var out: [String] = []
        var stack = [id]
        while let next = stack.popLast() {
            out.append(next)
            stack.append(contentsOf: (childrenOf[next] ?? []).reversed())
        }
        return out
    }

    /// Whether `id` is `ancestor` itself or one of its descendants.
    public func isWithin(_ id: String, subtreeOf ancestor: String) -> Bool {
        var current: String? = id
        while let c = current {
            if c == ancestor { return true }
            current = self[c]?.parentID
        }
        return false
    }
}
