"""Published EveNet H → aa → 4b numbers (PHYSICS.md §4: the authors' result files, m_a = 30 GeV,
training sizes 10k / 30k / 100k / 300k / 1M), printed beside ours in summary.md."""

SIZES = ("10k", "30k", "100k", "300k", "1M")
SOURCE = "EveNet authors' result files (PHYSICS.md §4), m_a = 30 GeV"
REJECTION_25 = {  # 1/ε_B at ε_S = 25%
    "EveNet pretrained (run evenet-pretrain)": (32.6, 57.2, 102.8, 172.3, 191.5),
    'EveNet pretrained ("Nominal")': (36.4, 54.6, 101.3, 174.5, 178.7),
    "EveNet scratch": (7.5, 25.8, 41.5, 82.2, 105.4),
    "SPANet": (14.5, 21.4, 28.4, 32.1, 50.0),
}
PAIRING_PURITY = {  # event purity, smallest -> largest size
    "EveNet pretrained": (0.60, 0.77),
    "EveNet scratch": (0.25, 0.76),
    "SPANet": (0.26, 0.72),
}
LIMIT_MEDIAN = {  # expected 95% CL on BR(H → aa → 4b), 10k -> 1M, without MC statistical errors
    "EveNet pretrained": (0.081, 0.037),
    'EveNet pretrained ("Nominal")': (0.079, 0.040),
    "EveNet scratch": (0.294, 0.040),
    "SPANet": (0.144, 0.060),
}
