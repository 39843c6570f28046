/// Who made a consent decision.
public struct ConsentActor: StringIdentifier {
    /// The identifier's spelling.
    public let rawValue: String
    /// Creates the identifier with the spelling `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The user.
    public static let user: ConsentActor = "user"
    /// The user's parent or guardian.
    public static let guardian: ConsentActor = "guardian"
    /// Steward itself, applying the manifest (first start, a new policy version, a reset).
    public static let systemDefault: ConsentActor = "default"
    /// Steward's age gate.
    public static let ageGate: ConsentActor = "ageGate"
}

/// One purpose's state as a receipt records it.
public struct ReceiptPurpose: Codable, Hashable, Sendable {
    /// The purpose.
    public var purpose: Purpose
    /// Its legal basis in the manifest.
    public var legalBasis: LegalBasis
    /// The state before the change.
    public var previous: ConsentState
    /// The state after it.
    public var state: ConsentState

    /// Creates an entry.
    public init(purpose: Purpose, legalBasis: LegalBasis, previous: ConsentState, state: ConsentState) {
        self.purpose = purpose
        self.legalBasis = legalBasis
        self.previous = previous
        self.state = state
    }
}

/// A record of one consent decision, in the shape of the Kantara Consent Receipt and ISO/IEC
/// TS 27560: who decided, when, under which policy version and jurisdiction, for which
/// purposes. Receipts form a hash chain: each carries the SHA-256 of the one before, so an
/// edited, removed or reordered receipt is detected by ``ConsentReceipt/verifyChain(_:)``.
public struct ConsentReceipt: Codable, Hashable, Sendable {
    /// The receipt format.
    public var version: String
    /// A random identifier.
    public var receiptID: String
    /// Position in the chain, from 0.
    public var sequence: Int
    /// When, in milliseconds since 1970 (UTC).
    public var timestamp: Int64
    /// Who decided.
    public var actor: ConsentActor
    /// The privacy policy version the decision was made under.
    public var policyVersion: String
    /// The user's jurisdiction, when known.
    public var jurisdiction: Jurisdiction?
    /// The age signal in force after the decision.
    public var ageSignal: AgeSignal
    /// Why Steward made the change, for changes it made itself.
    public var reason: String?
    /// The purposes whose state the receipt records.
    public var purposes: [ReceiptPurpose]
    /// SHA-256 (hex) of the previous receipt, 64 zeros for the first.
    public var previousHash: String
    /// SHA-256 (hex) of this receipt's canonical form (``canonicalBytes``).
    public var hash: String

    /// The format this version of Steward writes.
    public static let currentVersion = "steward-consent-receipt/1"
    /// The previous hash of the first receipt.
    public static let genesisHash = String(repeating: "0", count: 64)

    /// The bytes the hash covers: every field but `hash`, one `key=value` line each in a fixed
    /// order, purposes in their recorded order. Every text value is escaped (`\\`, newline, `,`),
    /// and an absent optional is a bare key with no `=`, so no two different receipts share
    /// these bytes. Independent of any JSON encoder.
    public var canonicalBytes: [UInt8] {
        func field(_ key: String, _ value: String?) -> String {
            value.map { "\(key)=\(Self.escape($0))" } ?? key
        }
        var lines = [
            field("version", version), field("receiptID", receiptID), field("sequence", String(sequence)),
            field("timestamp", String(timestamp)), field("actor", actor.rawValue),
            field("policyVersion", policyVersion),
            field("jurisdiction", jurisdiction?.rawValue), field("ageSignal", ageSignal.rawValue),
            field("reason", reason),
        ]
        for p in purposes {
            lines.append(
                "purpose="
                    + [p.purpose.rawValue, p.legalBasis.rawValue, p.previous.rawValue, p.state.rawValue].map(
                        Self.escape
                    ).joined(separator: ","))
        }
        lines.append(field("previousHash", previousHash))
        return Array(lines.joined(separator: "\n").utf8)
    }

    /// SHA-256 of ``canonicalBytes``, hex.
    public var computedHash: String { Self.hex(SHA256.hash(canonicalBytes)) }

    /// Escapes `\`, `,`, line feed and carriage return per Unicode scalar (not per Character, in
    /// which "\r\n" is one unit and would hide its line feed).
    private static func escape(_ s: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case ",": out.append(contentsOf: "\\,".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\r": out.append(contentsOf: "\\r".unicodeScalars)
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    static func hex(_ bytes: [UInt8]) -> String { Hex.encode(bytes) }

    /// The receipts of the current chain: from the last one that starts a chain (sequence 0,
    /// previous hash all zeros) to the end. After damage the ledger starts a new chain; the
    /// receipts before it stay, for the record.
    public static func currentChain(_ receipts: [ConsentReceipt]) -> [ConsentReceipt] {
        guard let start = receipts.lastIndex(where: { $0.sequence == 0 && $0.previousHash == genesisHash }) else {
            return receipts
        }
        return Array(receipts[start...])
    }

    /// Checks a chain of receipts, as exported: sequence numbers from 0 without gaps, every
    /// hash matching its receipt, every receipt pointing at the hash of the one before.
    public static func verifyChain(_ receipts: [ConsentReceipt]) -> ReceiptChainCheck {
        var previous = genesisHash
        for (index, receipt) in receipts.enumerated() {
            if receipt.sequence != index {
                return .broken(
                    at: index,
                    reason:
                        "receipt \(index) has sequence number \(receipt.sequence): a receipt is missing or out of order"
                )
            }
            if receipt.previousHash != previous {
                return .broken(
                    at: index,
                    reason:
                        "receipt \(index) does not point at the hash of receipt \(index - 1): the chain was cut or reordered"
                )
            }
            if receipt.computedHash != receipt.hash {
                return .broken(at: index, reason: "receipt \(index) does not match its hash: it was edited")
            }
            previous = receipt.hash
        }
        return .valid(count: receipts.count)
    }
}

/// The outcome of checking a receipt chain.
public enum ReceiptChainCheck: Hashable, Sendable {
    /// Every receipt is intact and in place.
    case valid(count: Int)
    /// The first receipt that does not fit, and why.
    case broken(at: Int, reason: String)

    /// Whether the chain is intact.
    public var isValid: Bool { if case .valid = self { return true } else { return false } }
}

/// A change of one purpose's consent, as observers see it.
public struct ConsentChange: Hashable, Sendable {
    /// The purpose.
    public var purpose: Purpose
    /// The state before.
    public var previous: ConsentState
    /// The state now.
    public var state: ConsentState
    /// Who changed it.
    public var actor: ConsentActor
    /// The receipt that records it.
    public var receiptID: String
}

extension ConsentReceipt {
    /// Reads a receipt in the form the ledger stores it (`JSONEncoder`'s output: one object,
    /// absent values left out) with Steward's own JSON parser; nil when the bytes are in any
    /// other shape, and the caller falls back to `JSONDecoder`. The first use of `JSONDecoder`
    /// in a process was a tenth of a fresh process's start.
    static func decodeStored(_ bytes: [UInt8]) -> ConsentReceipt? {
        let parsed = JSONParser.parse(bytes)
        // No problem at all: a duplicate key (which JSONDecoder settles its own way) is one.
        guard parsed.problems.isEmpty, case .object(let members)? = parsed.value,
            case let fields = Self.fields(members)
        else { return nil }
        func string(_ key: String) -> String? {
            if case .string(let text)? = fields[key] { return text }
            return nil
        }
        /// Absent or null: nil; a string: it; anything else: not this form.
        func optionalString(_ key: String) -> String?? {
            switch fields[key] {
            case nil, .null?: return .some(nil)
            case .string(let text)?: return .some(text)
            default: return nil
            }
        }
        func integer(_ key: String) -> Int64? {
            if case .number(let text)? = fields[key] { return Int64(text) }
            return nil
        }
        guard let version = string("version"), let receiptID = string("receiptID"),
            let sequence = integer("sequence").flatMap({ Int(exactly: $0) }), let timestamp = integer("timestamp"),
            let actor = string("actor"), let policyVersion = string("policyVersion"),
            let jurisdiction = optionalString("jurisdiction"), let age = string("ageSignal").flatMap(AgeSignal.init),
            let reason = optionalString("reason"), let previousHash = string("previousHash"),
            let hash = string("hash"), case .array(let list)? = fields["purposes"]
        else { return nil }
        var purposes: [ReceiptPurpose] = []
        purposes.reserveCapacity(list.count)
        for item in list {
            guard case .object(let members) = item, case let p = Self.fields(members),
                case .string(let purpose)? = p["purpose"], case .string(let basis)? = p["legalBasis"],
                let legalBasis = LegalBasis(rawValue: basis), case .string(let before)? = p["previous"],
                let previous = ConsentState(rawValue: before), case .string(let now)? = p["state"],
                let state = ConsentState(rawValue: now)
            else { return nil }
            purposes.append(
                ReceiptPurpose(
                    purpose: Purpose(rawValue: purpose), legalBasis: legalBasis, previous: previous, state: state))
        }
        return ConsentReceipt(
            version: version, receiptID: receiptID, sequence: sequence, timestamp: timestamp,
            actor: ConsentActor(rawValue: actor), policyVersion: policyVersion,
            jurisdiction: jurisdiction.map(Jurisdiction.init(rawValue:)), ageSignal: age, reason: reason,
            purposes: purposes, previousHash: previousHash, hash: hash)
    }

    /// The members by key. A key twice never gets here: the parser reports it as a problem.
    private static func fields(_ members: [JSONValue.Member]) -> [String: JSONValue] {
        Dictionary(members.map { ($0.key, $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}
