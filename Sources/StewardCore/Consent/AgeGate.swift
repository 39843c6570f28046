/// What the host knows about the user's age.
public enum AgeSignal: String, Codable, Hashable, Sendable, CaseIterable {
    /// Nothing is known. Steward does not knowingly serve a child, so it changes nothing.
    case unknown
    /// Below the jurisdiction's minimum age: every purpose that needs consent is denied until a
    /// guardian consents, and data kept for those purposes is purged.
    case below
    /// At or above the minimum age.
    case atOrAbove
    /// Below the minimum age, and a guardian has consented: the guardian's choices apply.
    case guardianConsent
}

/// The ages below which a user's own consent does not count, per jurisdiction.
///
/// Built in: the United States 13 (COPPA), China 14 (PIPL Art. 31), the United Kingdom 13,
/// the European Union 16 (GDPR Art. 8) with each member state's own value where it lowered
/// it (for example France 15, Italy 14, Denmark 13). A manifest's `minimumAges` override the
/// table; jurisdictions in neither use ``defaultMinimumAge``.
///
/// ```swift
/// let gate = AgeGate(manifest: manifest)
/// gate.minimumAge(in: "FR")                 // 15
/// gate.signal(forAge: 12, in: .us)          // .below
/// ```
public struct AgeGate: Hashable, Sendable {
    /// The built-in table.
    public static let builtInMinimumAges: [Jurisdiction: Int] = [
        .us: 13, .cn: 14, .gb: 13, .eu: 16,
        "AT": 14, "BE": 13, "BG": 14, "HR": 16, "CY": 14, "CZ": 15, "DK": 13, "EE": 13, "FI": 13,
        "FR": 15, "DE": 16, "GR": 15, "HU": 16, "IE": 16, "IT": 14, "LV": 13, "LT": 14, "LU": 16,
        "MT": 13, "NL": 16, "PL": 16, "PT": 13, "RO": 16, "SK": 16, "SI": 15, "ES": 14, "SE": 13,
    ]

    /// The table in force: built-in values with the manifest's overrides.
    public var minimumAges: [Jurisdiction: Int]
    /// The minimum age where the jurisdiction is unknown or not in the table (13 unless set).
    public var defaultMinimumAge: Int

    /// Creates a gate from the built-in table, the manifest's `minimumAges` and a default.
    ///
    /// The manifest need not have been validated: an override outside 0…21 (which validation
    /// refuses) is ignored, so an unchecked manifest cannot declare every user an adult or a
    /// child. For a repeated jurisdiction the first entry counts, as validation reports it.
    public init(manifest: PrivacyManifest? = nil, defaultMinimumAge: Int = 13) {
        var ages = Self.builtInMinimumAges
        var overridden: Set<Jurisdiction> = []
        for entry in manifest?.minimumAges ?? []
        where ManifestValidator.ageRange.contains(entry.age) && overridden.insert(entry.jurisdiction).inserted {
            ages[entry.jurisdiction] = entry.age
        }
        self.minimumAges = ages
        self.defaultMinimumAge = defaultMinimumAge
    }

    /// The minimum age in `jurisdiction` (nil: unknown).
    public func minimumAge(in jurisdiction: Jurisdiction?) -> Int {
        jurisdiction.flatMap { minimumAges[$0] } ?? defaultMinimumAge
    }

    /// `.below` or `.atOrAbove` for a user of `years` in `jurisdiction`.
    public func signal(forAge years: Int, in jurisdiction: Jurisdiction?) -> AgeSignal {
        years < minimumAge(in: jurisdiction) ? .below : .atOrAbove
    }
}
