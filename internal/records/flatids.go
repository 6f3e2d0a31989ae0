package records

import "github.com/fieldflow/fieldflow/internal/events"

// The resource events carry the ids a receiver looks for at the top level
// as well as under the nested resource: receivers written for other
// products read event.fieldGroupId or event.fieldKey, and for a deletion
// the nested object is the only other place the ids appear. The flat ids
// are those of the resource's current state (after an update), like the
// nested one.

// groupMembers are the members of a field_group.* event: the flat ids,
// then the group and, when given, its former state.
func groupMembers(g, prev *FieldGroup) []events.Member {
	ms := []events.Member{
		{Key: "fieldGroupId", Value: g.ID},
		{Key: "fieldGroupKey", Value: g.Key},
		{Key: "fieldGroup", Value: g},
	}
	if prev != nil {
		ms = append(ms, events.Member{Key: "previous", Value: prev})
	}
	return ms
}

// globalFieldMembers are the members of a global_field.* event. A global
// field may belong to several groups, so its groups are a list
// (fieldGroupIds), never a single fieldGroupId that would name one of them
// at random.
func globalFieldMembers(f, prev *GlobalField) []events.Member {
	ms := []events.Member{
		{Key: "fieldId", Value: f.ID},
		{Key: "fieldKey", Value: f.Key},
		{Key: "fieldGroupIds", Value: f.FieldGroupIDs},
		{Key: "field", Value: f},
	}
	if prev != nil {
		ms = append(ms, events.Member{Key: "previous", Value: prev})
	}
	return ms
}

// tenantFieldMembers are the members of a tenant_field.* event; tenantId
// is the envelope's.
func tenantFieldMembers(groupKey string, f, prev *TenantField) []events.Member {
	ms := []events.Member{
		{Key: "fieldGroupId", Value: f.FieldGroupID},
		{Key: "fieldGroupKey", Value: groupKey},
		{Key: "fieldId", Value: f.ID},
		{Key: "fieldKey", Value: f.Key},
		{Key: "field", Value: f},
	}
	if prev != nil {
		ms = append(ms, events.Member{Key: "previous", Value: prev})
	}
	return ms
}
