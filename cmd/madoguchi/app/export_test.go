package app

// AbandonOnStop makes Run end as a killed process would: the desks' leases
// stay held and the claimed notices claimed, until they lapse.
func (g *Group) AbandonOnStop() { g.abandon = true }
