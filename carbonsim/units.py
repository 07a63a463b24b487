"""Unit constants. One unit per dimension inside the code; convert only at the edges.

Internal units: kg CO2e for embodied carbon, g CO2e/kWh for grid intensity, W for power,
s for time, GB for capacity, mm^2 in files and cm^2 inside the die model.
"""

#: Seconds in one year of 365 days. The seed paper's Fig. 2 amortises over 4 x 365 days
#: ((811.4 + 448) kg / 4 yr = 9.98 mg/s); a 365.25-day year changes results by 0.07 %.
SECONDS_PER_YEAR = 365.0 * 86400.0
HOURS_PER_YEAR = 365.0 * 24.0
SECONDS_PER_HOUR = 3600.0
MM2_PER_CM2 = 100.0
KG_TO_MG = 1.0e6
J_PER_KWH = 3.6e6
