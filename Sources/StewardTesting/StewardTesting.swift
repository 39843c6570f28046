public import StewardCore
