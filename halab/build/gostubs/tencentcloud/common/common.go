// Package common is a halab stub standing in for the Tencent Cloud SDK's common package:
// only the pointer helpers flannel's tencentvpc backend uses.
package common

func StringPtr(v string) *string { return &v }

func StringPtrs(vals []string) []*string {
	out := make([]*string, len(vals))
	for i := range vals {
		v := vals[i]
		out[i] = &v
	}
	return out
}

func BoolPtr(v bool) *bool { return &v }
