import Synchronization
import TallyCore

/// The live account tree and its credential tables, as one immutable snapshot swapped whole on
/// every change, so each request sees one consistent state and every face sees a change at once.
public final class AccountRegistry: Sendable {
    /// One consistent state of the accounts and their credentials (digests only, never secrets).
    public struct Snapshot: Sendable {
        /// The account tree; tokens and keys as `sha256:<hex>`, passwords as their verifier form.
        public let directory: AccountDirectory
        /// The tree without inactive accounts: what an account's own credential may name.
        public let activeDirectory: AccountDirectory
        /// Accounts that are disabled or below a disabled account.
        let inactive: Set<String>
        /// Token digest → who it acts for (service tokens and active accounts' tokens).
        let tokens: [String: Principal]
        /// API key digest → account id (active accounts only).
        let apiKeys: [String: String]
        /// Account id → its IP allow-list (absent or empty: any address).
        let networks: [String: [IPNetwork]]
        /// Account id → its password verifier (active accounts only).
        let passwords: [String: PasswordVerifier]
        /// Account id → the session generation its login tokens must carry (absent: 0).
        let sessionGenerations: [String: Int64]

        /// Builds the tables of `accounts`, whose secrets are already in hashed form (`normalized`).
        init(accounts: [Account], serviceTokens: [String], sessionGenerations: [String: Int64]) {
            let directory = AccountDirectory(accounts)
            var inactive = Set<String>()
            for a in accounts {
                var current: Account? = a
                while let c = current {
                    if c.disabled {
                        inactive.insert(a.id)
                        break
                    }
                    current = c.parentID.flatMap { directory[$0] }
                }
            }
            var tokens: [String: Principal] = [:]
            var apiKeys: [String: String] = [:]
            var networks: [String: [IPNetwork]] = [:]
            var passwords: [String: PasswordVerifier] = [:]
            for t in serviceTokens { tokens[Secrets.digest(configured: t)] = .service }
            for a in accounts where !inactive.contains(a.id) {
                for t in a.tokens { tokens[Secrets.digest(configured: t)] = .account(a.id) }
                for k in a.apiKeys { apiKeys[Secrets.digest(configured: k)] = a.id }
                let nets = a.allowedIPs.compactMap { IPNetwork($0) }
                if !nets.isEmpty { networks[a.id] = nets }
                if let v = PasswordVerifier(normalized: a.password) { passwords[a.id] = v }
            }
            self.directory = directory
            self.activeDirectory = inactive.isEmpty ? directory : AccountDirectory(accounts.filter { !inactive.contains($0.id) })
            self.inactive = inactive
            self.tokens = tokens
            self.apiKeys = apiKeys
            self.networks = networks
            self.passwords = passwords
            self.sessionGenerations = sessionGenerations
        }

        /// Whether an account exists and neither it nor an ancestor is disabled.
        public func isActive(_ id: String) -> Bool { directory[id] != nil && !inactive.contains(id) }
    }

    private let state: Mutex<Snapshot>
    let serviceTokens: [String]

    /// A registry over accounts already `normalized`.
    init(normalized accounts: [Account], serviceTokens: [String], sessionGenerations: [String: Int64]) {
        self.serviceTokens = serviceTokens
        state = Mutex(Snapshot(accounts: accounts, serviceTokens: serviceTokens, sessionGenerations: sessionGenerations))
    }

    /// The current snapshot (a cheap copy: its tables are shared, copy-on-write).
    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Replaces the state in one step with accounts already `normalized`.
    func replace(normalized accounts: [Account], sessionGenerations: [String: Int64]) {
        let next = Snapshot(accounts: accounts, serviceTokens: serviceTokens, sessionGenerations: sessionGenerations)
        state.withLock { $0 = next }
    }

    /// An account with its secrets in the only forms a directory keeps: token and key digests,
    /// a password as its slow hash or (clear in the configuration) its SHA-256.
    static func normalized(_ a: Account) -> Account {
        var n = a
        n.tokens = a.tokens.map(Secrets.storedForm)
        n.apiKeys = a.apiKeys.map(Secrets.storedForm)
        n.password = a.password.map(PasswordVerifier.normalized(configured:))
        return n
    }
}
