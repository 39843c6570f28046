import Foundation
import StewardCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Makes attribute values safe to keep: checks them against their declarations, hashes
/// identifiers with a secret salt per purpose, removes what looks like an IP address, this
/// host's name or its machine ID, coarsens locations, truncates strings.
final class Anonymiser: Sendable {
    enum Result {
        case kept([String: AttributeValue])
        case refused
    }

    /// What the anonymiser keeps in the vault: per-purpose salts and the pseudonymous ids it
    /// made under each (for deletion requests), and the requests not sent yet.
    struct Stored: Codable {
        var salts: [String: [UInt8]] = [:]
        var pseudonyms: [String: [String]] = [:]
        var deletionRequests: [DeletionRequest] = []
    }

    /// A deletion request owed to a purpose's recipients after a withdrawal.
    struct DeletionRequest: Codable, Hashable {
        var purpose: Purpose
        var pseudonyms: [String]
        var withdrawn: Date
        /// Recipients whose uploader has queued it (it is retried from there).
        var queuedTo: [RecipientID]?
    }

    private let vault: Vault
    private let permissions: any PermissionChecking
    private let clock: any WallClock
    private let state: Mutex<Stored>
    /// Pseudonyms made per purpose, for a fast membership test (mirrors `Stored.pseudonyms`).
    private let known = Mutex<[Purpose: Set<String>]>([:])
    /// The HMAC key of each purpose's salt, built once.
    private let keys = Mutex<[Purpose: SymmetricKey]>([:])
    /// The most pseudonyms remembered per purpose for deletion requests; beyond it, recipients
    /// find the data by the resource's device.id.
    static let pseudonymLimit = 10_000
    private let dirty = Atomic<Bool>(false)
    /// See ``looksForbidden(_:)``.
    private let cleanValues = CleanTextMemo()

    init(vault: Vault, permissions: any PermissionChecking, clock: any WallClock) throws {
        self.vault = vault
        self.permissions = permissions
        self.clock = clock
        var stored = Stored()
        try vault.forEachRecord(in: Telemetry.stateCollection) { record in
            if let decoded = try? JSONDecoder().decode(Stored.self, from: Data(record.data)) { stored = decoded }
        }
        self.state = Mutex(stored)
    }

    func apply(
        _ attributes: [String: AttributeValue], declared: [String: AttributeDeclaration], purpose: Purpose, strict: Bool
    ) -> Result {
        // The common case — every attribute declared and already safe — keeps the caller's
        // dictionary as it is: no copy, no allocation.
        var unchanged = true
        for (key, value) in attributes {
            guard let declaration = declared[key], let safe = sanitise(value, declaration, purpose: purpose),
                safe == value
            else {
                unchanged = false
                break
            }
        }
        if unchanged { return .kept(attributes) }
        // Sized once at creation: reserveCapacity on an empty dictionary allocates and then
        // moves into a second storage.
        var kept = [String: AttributeValue](minimumCapacity: attributes.count)
        for (key, value) in attributes {
            guard let declaration = declared[key] else {
                if strict { return .refused }
                continue
            }
            guard let safe = sanitise(value, declaration, purpose: purpose) else {
                if strict { return .refused }
                continue
            }
            kept[key] = safe
        }
        return .kept(kept)
    }

    /// ``apply(_:declared:purpose:strict:)`` for values that come with their declarations
    /// (of event `event`): no lookup by name.
    ///
    /// A bridge fills the same attributes line after line. The last kept dictionary of each
    /// shape (which declarations, in which order) is remembered with the places of its values
    /// (`shape`): the next one of that shape is a copy of it with the new values written in
    /// place, with no string hashed.
    func apply(
        _ values: [Telemetry.DeclaredValue], event: Int, shape: DeclaredShape, purpose: Purpose, strict: Bool
    ) -> Result {
        if let template = shape.template(matching: values) {
            var kept = template.dictionary
            var complete = true
            for (offset, item) in values.enumerated() {
                guard item.attribute.event == event,
                    let safe = sanitise(item.value, item.attribute.declaration, purpose: purpose)
                else {
                    complete = false
                    break
                }
                kept.values[template.places[offset]] = safe
            }
            if complete { return .kept(kept) }
        }
        var kept = [String: AttributeValue](minimumCapacity: values.count)
        for item in values {
            let declaration = item.attribute.declaration
            guard item.attribute.event == event, let safe = sanitise(item.value, declaration, purpose: purpose) else {
                if strict { return .refused }
                continue
            }
            kept[declaration.name] = safe
        }
        // Every value kept under a name of its own: the shape is remembered.
        if kept.count == values.count { shape.remember(values, kept) }
        return .kept(kept)
    }

    /// The last kept dictionary of one event's declared values, and where each value sits in
    /// it: a copy keeps the places, so values are written without hashing their names.
    final class DeclaredShape: Sendable {
        struct Template: Sendable {
            /// The declarations' places in the event's list, in the order of the values.
            let positions: [Int]
            let dictionary: [String: AttributeValue]
            /// Where the value of each position sits in ``dictionary``.
            let places: [Dictionary<String, AttributeValue>.Index]
        }

        private let last = Mutex<Template?>(nil)

        /// The template for `values`' shape, if it is the last one remembered.
        func template(matching values: [Telemetry.DeclaredValue]) -> Template? {
            last.withLock { last in
                guard let template = last, template.positions.count == values.count else { return nil }
                for (offset, item) in values.enumerated() where template.positions[offset] != item.attribute.position {
                    return nil
                }
                return template
            }
        }

        /// Remembers `kept`, made of `values` (one entry per value), as the template of their shape.
        func remember(_ values: [Telemetry.DeclaredValue], _ kept: [String: AttributeValue]) {
            let places = values.compactMap { kept.index(forKey: $0.attribute.declaration.name) }
            guard places.count == values.count else { return }
            let template = Template(positions: values.map(\.attribute.position), dictionary: kept, places: places)
            last.withLock { $0 = template }
        }
    }

    private func sanitise(_ value: AttributeValue, _ declaration: AttributeDeclaration, purpose: Purpose)
        -> AttributeValue?
    {
        switch (declaration.type, value) {
        case (.double, .double(let number)) where !number.isFinite:
            return nil
        case (.int, .int), (.double, .double), (.bool, .bool):
            return declaration.classification == .identifier
                ? .string(pseudonym(for: "\(value)", purpose: purpose)) : value
        case (.double, .int(let number)):
            return .double(Double(number))
        case (.string, .string(let text)):
            if looksForbidden(text) { return nil }
            if declaration.classification == .identifier { return .string(pseudonym(for: text, purpose: purpose)) }
            return .string(truncate(text, declaration.maxLength))
        case (.location, .string(let text)):
            return coarsen(text).map(AttributeValue.string)
        default:
            return nil
        }
    }

    /// A keyed hash of `value` under the purpose's salt: the same value gives the same
    /// pseudonym until the salt rotates.
    func pseudonym(for value: String, purpose: Purpose) -> String {
        let (salt, isNew) = state.withLock { s -> ([UInt8], Bool) in
            if let salt = s.salts[purpose.rawValue] { return (salt, false) }
            let salt = (try? SecureRandom.bytes(count: 32)) ?? Array(UUID().uuidString.utf8)
            s.salts[purpose.rawValue] = salt
            return (salt, true)
        }
        if isNew {
            dirty.store(true, ordering: .relaxed)
            _ = keys.withLock { $0.removeValue(forKey: purpose) }
        }
        let key = keys.withLock { keys -> SymmetricKey? in
            if let key = keys[purpose] { return key }
            let key = try? SymmetricKey(copying: salt)
            keys[purpose] = key
            return key
        }
        let code = key.flatMap { try? HMACSHA256.authenticationCode(for: Array(value.utf8), using: $0) } ?? []
        let hex = Hex.encode(code.prefix(16))
        let added = known.withLock { known -> Bool in
            var set = known[purpose] ?? Set(state.withLock { $0.pseudonyms[purpose.rawValue] ?? [] })
            defer { known[purpose] = set }
            guard set.count < Self.pseudonymLimit else { return false }
            return set.insert(hex).inserted
        }
        if added {
            state.withLock { $0.pseudonyms[purpose.rawValue, default: []].append(hex) }
            dirty.store(true, ordering: .relaxed)
        }
        return hex
    }

    /// A withdrawn purpose: its pseudonyms go into a deletion request, and its salt is
    /// forgotten, so a new grant gets new pseudonyms.
    func withdrawn(_ purpose: Purpose) {
        _ = known.withLock { $0.removeValue(forKey: purpose) }
        _ = keys.withLock { $0.removeValue(forKey: purpose) }
        state.withLock { s in
            let pseudonyms = s.pseudonyms.removeValue(forKey: purpose.rawValue) ?? []
            s.salts.removeValue(forKey: purpose.rawValue)
            // Even without pseudonyms: the recipient can still find the installation's data by
            // the resource's device.id (the app-scoped id).
            s.deletionRequests.append(
                DeletionRequest(purpose: purpose, pseudonyms: pseudonyms, withdrawn: clock.checkedNow))
        }
        dirty.store(true, ordering: .relaxed)
        try? save()
    }

    /// The pseudonymous ids made under each purpose whose salt is live.
    var pseudonymsInUse: [Purpose: [String]] {
        state.withLock { s in
            Dictionary(uniqueKeysWithValues: s.pseudonyms.map { (Purpose(rawValue: $0.key), $0.value) })
        }
    }

    /// Purposes that have a salt (identifiers were hashed under them).
    var saltedPurposes: [Purpose] { state.withLock { $0.salts.keys.map(Purpose.init(rawValue:)) } }

    /// Deletion requests not sent yet.
    var pendingDeletionRequests: [DeletionRequest] { state.withLock { $0.deletionRequests } }

    /// Notes that `recipient`'s uploader queued `request`; forgets the request once every
    /// recipient in `all` has it.
    func deletionRequestQueued(_ request: DeletionRequest, to recipient: RecipientID, of all: Set<RecipientID>) {
        state.withLock { s in
            guard
                let index = s.deletionRequests.firstIndex(where: {
                    $0.purpose == request.purpose && $0.withdrawn == request.withdrawn
                })
            else { return }
            var queued = Set(s.deletionRequests[index].queuedTo ?? [])
            queued.insert(recipient)
            if queued.isSuperset(of: all) {
                s.deletionRequests.remove(at: index)
            } else {
                s.deletionRequests[index].queuedTo = queued.sorted()
            }
        }
        dirty.store(true, ordering: .relaxed)
    }

    /// Writes salts, pseudonyms and requests to the vault when they changed.
    func save() throws {
        guard dirty.exchange(false, ordering: .relaxed) else { return }
        let bytes = try state.withLock { try JSONEncoder().encode($0) }
        var old: [RecordID] = []
        try vault.forEachRecord(in: Telemetry.stateCollection) { old.append($0.id) }
        try vault.append(
            Array(bytes), to: Telemetry.stateCollection, category: .consentRecords, purpose: .privacyCompliance)
        for id in old { try vault.remove(id, from: Telemetry.stateCollection) }
        try vault.commit(collections: [Telemetry.stateCollection])
    }

    /// Whether a value must never be kept: a device identifier or a secret, as the one
    /// ``IdentifierFilter`` finds them (machine ID, MACs, host name, home, user name, IP
    /// addresses, card numbers, secret values).
    ///
    /// Values found clean are remembered (``CleanTextMemo``: short ones, 512 slots, for the
    /// filter's current generation): the same screen and button names come again and again,
    /// and the search was 40 % of a granted `record` on the caller's thread. They are
    /// remembered by their exact UTF-8 bytes, as the filter reads them: Swift's `==` on strings
    /// is canonical equivalence (a decomposed "é" equals the composed one, the Kelvin sign
    /// K equals nothing ASCII but hashes apart), and a value equal to a clean one that way may
    /// hold an identifier's bytes.
    private func looksForbidden(_ text: String) -> Bool {
        let generation = IdentifierFilter.generation
        if cleanValues.contains(text, generation: generation) { return false }
        let forbidden = IdentifierFilter.current.contains(text)
        // A filter changed meanwhile: this answer is of an older one, not kept.
        if !forbidden, IdentifierFilter.generation == generation {
            cleanValues.insert(text, generation: generation)
        }
        return forbidden
    }

    static let memoValueLimit = CleanTextMemo.valueLimit
    static let memoCapacity = CleanTextMemo.capacity

    private func truncate(_ text: String, _ limit: Int?) -> String {
        // Telemetry refuses a manifest that does not validate; still, a negative maxLength keeps
        // nothing (as 0 does) rather than trapping in prefix(_:).
        guard let limit = limit.map({ max(0, $0) }) else { return text }
        // Characters never outnumber UTF-8 bytes: most values need no counting at all.
        guard text.utf8.count > limit, text.count > limit else { return text }
        return String(text.prefix(limit))
    }

    /// "lat,lon" rounded to a 0.05° grid (about 5 km) unless precise location is granted.
    private func coarsen(_ text: String) -> String? {
        let parts = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.count == 2, let lat = parts[0], let lon = parts[1], (-90...90).contains(lat),
            (-180...180).contains(lon)
        else { return nil }
        if permissions.isGranted(.locationPrecise) { return String(format: "%.5f,%.5f", lat, lon) }
        func grid(_ value: Double) -> Double { (value / 0.05).rounded() * 0.05 }
        return String(format: "%.2f,%.2f", grid(lat), grid(lon))
    }
}
